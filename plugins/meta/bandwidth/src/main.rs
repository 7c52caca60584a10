fn main() {
    libcni::skel::run("bandwidth", &cni_bandwidth::Bandwidth);
}
