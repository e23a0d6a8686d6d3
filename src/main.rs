#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

fn main() {
    let cli = trustkey::cli::Cli::parse();
    let format = trustkey::cli::output::Output::from_global(&cli.global).format;
    let code = match trustkey::cli::run(cli) {
        Ok(()) => trustkey::error::exit::OK,
        Err(e) => {
            trustkey::cli::output::print_error(&e, format);
            e.exit_code()
        }
    };
    std::process::exit(code);
}
