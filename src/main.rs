fn main() {
    std::process::exit(newsletter::run(std::env::args_os()));
}
