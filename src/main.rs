#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use trustkey::text::printable;

fn main() {
    let cli = trustkey::cli::Cli::parse();
    let code = match trustkey::cli::run(cli) {
        Ok(()) => trustkey::error::exit::OK,
        Err(e) => {
            // Errors carry outside text (names, server messages): shown, never acted on.
            eprintln!("trustkey: {}", printable(&e.to_string()));
            if let Some(h) = e.hint() {
                eprintln!("hint: {}", printable(&h));
            }
            e.exit_code()
        }
    };
    std::process::exit(code);
}
