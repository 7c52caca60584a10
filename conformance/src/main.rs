//! `cni-conformance --plugins DIR`: see the crate's README.

fn main() {
    std::process::exit(cni_conformance::cli::main());
}
