//! Connection-phase parsers: HandshakeResponse41, COM_CHANGE_USER, the server greeting and the auth
//! switch request never panic; a response that parses re-encodes to one that parses the same.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use sluice_protocol::handshake::{
    AuthSwitchRequest, ChangeUser, HandshakeResponse, HandshakeV10, is_ssl_request,
};

fuzz_target!(|data: &[u8]| {
    let payload = Bytes::copy_from_slice(data);
    let _ = is_ssl_request(&payload);
    if let Ok(r) = HandshakeResponse::parse(&payload) {
        let mut out = BytesMut::new();
        r.encode(&mut out);
        let again = HandshakeResponse::parse(&out.freeze()).expect("an encoded response parses");
        assert_eq!(again, r, "HandshakeResponse41 does not round-trip");
    }
    // COM_CHANGE_USER is read with the capabilities the client negotiated at login.
    if let Some((caps, _)) = data.split_first_chunk::<4>() {
        let _ = ChangeUser::parse(&payload, u32::from_le_bytes(*caps));
    }
    let _ = ChangeUser::parse(&payload, u32::MAX);
    let _ = ChangeUser::parse(&payload, 0);
    if let Ok(g) = HandshakeV10::parse(&payload) {
        let mut out = BytesMut::new();
        g.encode(&mut out);
        let _ = HandshakeV10::parse(&out.freeze());
    }
    let _ = AuthSwitchRequest::parse(&payload);
});
