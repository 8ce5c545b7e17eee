//! DKIM: messages signed with a generated RSA or Ed25519 key verify with dkimpy, an
//! implementation independent of ours, before and after a trip through a real SMTP server;
//! tampering with a signed header, the MIME structure or the body fails; `check` prints the
//! DNS record that verifies them.

use std::{path::Path, process::Command};

use crate::{harness::Test, smtp_server::CaptureServer};

/// A throwaway key pair made with the `openssl` command: the private key (PEM) and the public
/// key as DNS publishes it (base64).
fn key_pair(folder: &Path, algorithm: &str) -> (String, String) {
    let private = folder.join(format!("{algorithm}.pem"));
    let mut generate = Command::new("openssl");
    generate
        .args(["genpkey", "-algorithm", algorithm, "-out"])
        .arg(&private);
    if algorithm == "rsa" {
        generate.args(["-pkeyopt", "rsa_keygen_bits:2048"]);
    }
    let status = generate
        .output()
        .expect("openssl is needed to make test keys")
        .status;
    assert!(status.success(), "openssl genpkey failed");
    let public = Command::new("openssl")
        .args(["pkey", "-pubout", "-outform", "DER", "-in"])
        .arg(&private)
        .output()
        .expect("openssl pkey")
        .stdout;
    // DNS carries the whole SubjectPublicKeyInfo for RSA, and the raw 32-byte key for Ed25519.
    let public = if algorithm == "ed25519" {
        public[public.len() - 32..].to_vec()
    } else {
        public
    };
    (
        std::fs::read_to_string(&private).unwrap(),
        base64_encode(&public),
    )
}

fn base64_encode(bytes: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("base64")
        .arg("-w0")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
}

/// What dkimpy says about the message at `path`.
fn verify(path: &Path, key_type: &str, public_key: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/suite/dkim_verify.py");
    let output = Command::new("/usr/bin/python3")
        .arg(script)
        .arg(path)
        .args(["s2024", "example.org", key_type, public_key])
        .output()
        .expect("/usr/bin/python3 is needed for the DKIM test");
    assert!(
        output.status.success(),
        "dkim_verify.py failed (is python3-dkim installed? `apt-get install python3-dkim python3-nacl`): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

fn signed_message_verifies(algorithm: &str, key_type: &str) {
    let keys = tempfile::tempdir().unwrap();
    let (private, public) = key_pair(keys.path(), algorithm);
    let output = Test::fixture("minimal")
        .with_fixture("dkim")
        .write("dkim.pem", private)
        .args([
            "preview",
            "issue.yaml",
            "--out",
            "out",
            "--dkim-key",
            "dkim.pem",
        ])
        .stdout_contains("wrote 2 message(s)")
        .run();
    let message = output.path("out/0002-ada_example.org.eml");
    let text = output.read("out/0002-ada_example.org.eml");
    let signature = text.split("\r\n\r\n").next().unwrap().replace("\r\n ", " ");
    let signature = signature
        .lines()
        .find(|line| line.starts_with("DKIM-Signature:"))
        .expect("the message is signed");
    assert!(signature.contains("d=example.org;") && signature.contains("s=s2024;"));
    let compact: String = signature.split_whitespace().collect();
    assert!(compact.contains(
        "h=from:to:subject:date:message-id:list-id:list-unsubscribe:list-unsubscribe-post:reply-to:mime-version:content-type:from:subject:list-unsubscribe;"
    ), "{signature}");
    assert_eq!(verify(&message, key_type, &public), "valid");

    let tamper = |name: &str, from: &str, to: &str| {
        assert!(text.contains(from), "{from:?} is not in the message");
        let path = output.path(name);
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        verify(&path, key_type, &public)
    };
    // The MIME structure is covered: a relay cannot turn the alternatives into attachments.
    assert_eq!(
        tamper(
            "content-type.eml",
            "Content-Type: multipart/alternative;",
            "Content-Type: multipart/mixed;"
        ),
        "invalid"
    );
    // Over-signed: a second `From` or `Subject` added above ours breaks the signature.
    assert_eq!(
        tamper(
            "added-from.eml",
            "From: ",
            "From: \"Bank\" <security@bank.example>\r\nFrom: "
        ),
        "invalid"
    );
    assert_eq!(
        tamper(
            "added-subject.eml",
            "Subject: ",
            "Subject: Urgent\r\nSubject: "
        ),
        "invalid"
    );
    assert_eq!(
        tamper(
            "body.eml",
            "Content-Type: text/html",
            "Content-Type: text/plain"
        ),
        "invalid"
    );
    // Relaxed canonicalization: refolding a header is harmless.
    assert_eq!(tamper("refolded.eml", "Subject: ", "Subject:   "), "valid");

    let tampered = output.path("tampered.eml");
    std::fs::write(
        &tampered,
        text.replace("Subject: Spring issue", "Subject: Spring issues"),
    )
    .unwrap();
    assert_eq!(verify(&tampered, key_type, &public), "invalid");
    let unsubscribe_changed = output.path("unsubscribe-changed.eml");
    std::fs::write(
        &unsubscribe_changed,
        text.replacen(
            "https://example.org/unsubscribe",
            "https://evil.example/unsubscribe",
            1,
        ),
    )
    .unwrap();
    assert_eq!(verify(&unsubscribe_changed, key_type, &public), "invalid");
}

#[test]
fn rsa_signature_verifies_independently_and_tampering_breaks_it() {
    signed_message_verifies("rsa", "rsa");
}

#[test]
fn ed25519_signature_verifies_independently_and_tampering_breaks_it() {
    signed_message_verifies("ed25519", "ed25519");
}

#[test]
fn preview_without_the_key_says_messages_are_unsigned() {
    let output = Test::fixture("minimal")
        .with_fixture("dkim")
        .args(["preview", "issue.yaml", "--out", "out"])
        .stderr(
            "note: no DKIM key was given (--dkim-key or NEWSLETTER_DKIM_KEY_FILE), so messages are not signed; `send` needs the key\n",
        )
        .run();
    assert!(
        !output
            .read("out/0002-ada_example.org.eml")
            .contains("DKIM-Signature")
    );
}

#[test]
fn send_without_the_key_is_refused() {
    Test::fixture("minimal")
        .with_fixture("dkim")
        .args(["send", "issue.yaml", "--yes"])
        .status(4)
        .stderr(
            "error: `list.yaml` asks for DKIM signatures, but no key was given\n\
             hint: pass the private key file with --dkim-key FILE or NEWSLETTER_DKIM_KEY_FILE, or remove `dkim` from the list file\n",
        )
        .run();
}

#[test]
fn a_file_that_is_not_a_key_is_refused_without_showing_it() {
    let output = Test::fixture("minimal")
        .with_fixture("dkim")
        .write("dkim.pem", "not a key but a s3cret\n")
        .args(["check", "issue.yaml", "--dkim-key", "dkim.pem"])
        .status(4)
        .stderr(
            "error: cannot use the DKIM key `dkim.pem`: it is not a PEM private key (`BEGIN PRIVATE KEY` or `BEGIN RSA PRIVATE KEY`)\n",
        )
        .run();
    assert!(!output.stderr.contains("s3cret"));
}

/// The `v=DKIM1; k=…; p=…` record `check` prints, and the name it goes under.
fn printed_record(stdout: &str) -> (String, String) {
    let mut lines = stdout.lines();
    let heading = lines
        .by_ref()
        .find(|line| line.trim_start().starts_with("dkim:"))
        .unwrap_or_else(|| panic!("check printed no dkim line:\n{stdout}"));
    let name = heading
        .split(" at ")
        .nth(1)
        .unwrap()
        .trim_end_matches(':')
        .to_owned();
    (name, lines.next().unwrap().trim().to_owned())
}

fn check_prints_the_dns_record(algorithm: &str) {
    let keys = tempfile::tempdir().unwrap();
    let (private, public) = key_pair(keys.path(), algorithm);
    let output = Test::fixture("minimal")
        .with_fixture("dkim")
        .write("dkim.pem", private)
        .args(["check", "issue.yaml", "--dkim-key", "dkim.pem"])
        .run();
    let (name, record) = printed_record(&output.stdout);
    assert_eq!(name, "s2024._domainkey.example.org");
    assert_eq!(record, format!("v=DKIM1; k={algorithm}; p={public}"));
}

#[test]
fn check_prints_the_rsa_dns_record_openssl_derives() {
    check_prints_the_dns_record("rsa");
}

#[test]
fn check_prints_the_ed25519_dns_record_openssl_derives() {
    check_prints_the_dns_record("ed25519");
}

/// Sent through the capture server (which adds its own headers on top) and read back, every
/// message still verifies against the record `check` printed.
fn signature_survives_a_real_send(algorithm: &str) {
    let keys = tempfile::tempdir().unwrap();
    let (private, _) = key_pair(keys.path(), algorithm);
    let server = CaptureServer::start();
    let checked = Test::fixture("minimal")
        .with_fixture("dkim")
        .write("dkim.pem", &private)
        .args(["check", "issue.yaml", "--dkim-key", "dkim.pem"])
        .run();
    let (_, record) = printed_record(&checked.stdout);
    let public = record.rsplit("p=").next().unwrap().to_owned();
    let sent = Test::fixture("minimal")
        .with_fixture("dkim")
        .write("dkim.pem", &private)
        .unsubscribe_key()
        .args([
            "send",
            "issue.yaml",
            "--dkim-key",
            "dkim.pem",
            "--yes",
            "--progress",
            "none",
            "--concurrency",
            "2",
            "--smtp",
        ])
        .arg(server.smtp_url())
        .stdout_contains("sent 2 via")
        .run();
    let received = server.summary();
    assert_eq!(received.len(), 2);
    for (index, message) in received.iter().enumerate() {
        let path = sent.path(format!("received-{index}.eml"));
        std::fs::write(&path, server.raw(&message.id)).unwrap();
        assert_eq!(verify(&path, algorithm, &public), "valid", "{}", message.id);
    }
}

#[test]
fn rsa_signature_survives_a_real_send() {
    signature_survives_a_real_send("rsa");
}

#[test]
fn ed25519_signature_survives_a_real_send() {
    signature_survives_a_real_send("ed25519");
}
