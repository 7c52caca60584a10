//! The `firewall` binary: all logic is in the library.

fn main() {
    libcni::skel::run("firewall", &cni_firewall::Firewall);
}
