// Messages are built on one thread per core and freed on the delivery thread; mimalloc keeps
// that cheaper than glibc's allocator (figures in Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(newsletter::run(std::env::args_os()));
}
