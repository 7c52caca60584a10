fn main() {
    libcni::skel::run("bridge", &cni_bridge::Bridge);
}
