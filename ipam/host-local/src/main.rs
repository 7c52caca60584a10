//! The `host-local` IPAM plugin binary.

fn main() {
    libcni::skel::run("host-local", &host_local::HostLocal)
}
