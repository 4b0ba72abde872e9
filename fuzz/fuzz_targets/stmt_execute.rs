//! COM_STMT_EXECUTE parsing: any payload with any parameter count, previous types and long-data flags
//! gives a value or an error; what parses re-encodes to a payload that parses to the same request.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use sluice_protocol::binary::{ParamType, encode_stmt_execute, parse_stmt_execute};
use sluice_protocol::column::column_type_from_u8;

fuzz_target!(|data: &[u8]| {
    let Some((&[num, prev, long], rest)) = data.split_first_chunk::<3>() else { return };
    let num_params = usize::from(num % 32);
    // Previous types from the input's tail bytes (when `prev` says there were some).
    let previous: Option<Vec<ParamType>> = (prev & 1 == 1).then(|| {
        rest.iter()
            .rev()
            .take(num_params)
            .filter_map(|b| column_type_from_u8(*b).ok().map(|t| (t, b & 0x80 != 0)))
            .collect()
    });
    let long_data: Vec<bool> =
        if long & 1 == 1 { (0..num_params).map(|i| long >> (i % 8) & 1 == 1).collect() } else { Vec::new() };
    let payload = Bytes::copy_from_slice(rest);
    let Ok(parsed) = parse_stmt_execute(&payload, num_params, previous.as_deref(), &long_data) else {
        return;
    };
    let mut out = BytesMut::new();
    if encode_stmt_execute(&parsed, &mut out).is_err() {
        return;
    }
    let again = parse_stmt_execute(&out.freeze(), num_params, Some(&parsed.types), &long_data)
        .expect("an encoded COM_STMT_EXECUTE parses");
    assert_eq!(again.statement_id, parsed.statement_id);
    assert_eq!(again.params.len(), parsed.params.len());
});
