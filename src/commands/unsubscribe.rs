//! `newsletter unsubscribe`: adds addresses to the list's suppression file by hand, with a
//! reason and the time (for requests by mail or phone, and erasure requests), the same way the
//! endpoint does.

use std::io::Write;

use time::OffsetDateTime;

use crate::{
    cli::UnsubscribeArguments,
    commands::load::suppression_path,
    commands::style,
    error::{Error, ExitCode},
    input::{
        list::List,
        suppression::{self, Entry},
        values::parse_address,
    },
};

pub(crate) fn run(
    arguments: &UnsubscribeArguments,
    out: &mut dyn Write,
) -> Result<ExitCode, Error> {
    let list = List::load(&arguments.list)?;
    let path = suppression_path(&list, arguments.suppression.as_ref())?;
    let at = OffsetDateTime::now_utc();
    let mut entries = Vec::with_capacity(arguments.addresses.len());
    for raw in &arguments.addresses {
        // The address is checked, but kept as written so that it matches the subscriber file.
        let address = raw.trim();
        parse_address(address).map_err(|_| Error::SuppressionAddress {
            address: address.escape_debug().to_string(),
        })?;
        entries.push(Entry {
            address: address.to_owned(),
            reason: arguments.reason.clone(),
            at,
        });
    }
    let added = suppression::append(&path, &entries)?;
    let text = format!(
        "{added} address(es) added to `{}`; {} already there\n",
        path.display(),
        entries.len() - added
    );
    style::print(out, text)?;
    Ok(ExitCode::Success)
}
