fn main() {
    libcni::skel::run("ptp", &cni_ptp::Ptp);
}
