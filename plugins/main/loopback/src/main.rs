//! The `loopback` CNI plugin binary.

fn main() {
    libcni::skel::run("loopback", &cni_loopback::Loopback)
}
