//! The `flannel` CNI plugin binary.

fn main() {
    libcni::skel::run("flannel", &cni_flannel::Flannel)
}
