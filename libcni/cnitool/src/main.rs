//! `cnitool`: add, check, delete, garbage-collect and query CNI networks
//! from the shell, compatible with upstream cnitool. The logic lives in the
//! library so that tests can reach it.

fn main() {
    std::process::exit(cnitool::run(std::env::args_os()));
}
