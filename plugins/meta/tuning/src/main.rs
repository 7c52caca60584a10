//! The `tuning` CNI plugin binary.

fn main() {
    libcni::skel::run("tuning", &cni_tuning::Tuning)
}
