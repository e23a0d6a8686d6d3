//! The AFL++ driver: `trustkey-fuzz HARNESS` runs one of `trustkey::fuzz::HARNESSES` on the
//! inputs afl-fuzz gives it (persistent mode); `trustkey-fuzz HARNESS FILE...` runs it once on
//! each file (to replay a crash or minimize a corpus by hand). See scripts/fuzz.sh.

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(name) = args.next() else {
        usage();
    };
    let Some(h) = trustkey::fuzz::harness(&name) else {
        eprintln!("trustkey-fuzz: no harness {name:?}");
        usage();
    };
    let files: Vec<String> = args.collect();
    if files.is_empty() {
        afl::fuzz!(|data: &[u8]| (h.run)(data));
    } else {
        for f in files {
            let data = std::fs::read(&f).unwrap_or_else(|e| panic!("{f}: {e}"));
            (h.run)(&data);
            eprintln!("{f}: ok");
        }
    }
}

fn usage() -> ! {
    eprintln!("usage: trustkey-fuzz HARNESS [FILE...]\nharnesses:");
    for h in trustkey::fuzz::HARNESSES {
        eprintln!("  {:<20} {}", h.name, h.covers);
    }
    std::process::exit(2)
}
