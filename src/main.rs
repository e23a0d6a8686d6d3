#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

fn main() {
    let cli = trustkey::cli::Cli::parse();
    let code = match trustkey::cli::run(cli) {
        Ok(()) => trustkey::error::exit::OK,
        Err(e) => {
            eprintln!("trustkey: {e}");
            if let Some(h) = e.hint() {
                eprintln!("hint: {h}");
            }
            e.exit_code()
        }
    };
    std::process::exit(code);
}
