//! The `portmap` binary: all logic is in the library.

fn main() {
    libcni::skel::run("portmap", &cni_portmap::Portmap);
}
