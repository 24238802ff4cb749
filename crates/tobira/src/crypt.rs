//! crypt(3) through libxcrypt, the system's libcrypt on Debian and most
//! current Linux distributions.
//!
//! This is the only module of the crate with `unsafe` code: one call into
//! `crypt_rn`, libxcrypt's re-entrant variant of crypt(3) that takes the size
//! of its scratch area and signals failure by returning a null pointer. The
//! rest of the crate reaches it through the safe [`crypt`] function.
//!
//! Linking needs `libcrypt.so` (Debian: `libcrypt-dev`, which `libc6-dev`
//! already depends on, so every system that has a C toolchain has it).

use std::ffi::{c_char, c_int, c_void, CStr, CString};

use zeroize::Zeroize;

/// `sizeof(struct crypt_data)` in libxcrypt's `<crypt.h>`: the header sizes
/// the struct to exactly 32768 bytes. `crypt_rn` checks the size it is given,
/// so a smaller struct in some future libxcrypt could not make it overrun.
const CRYPT_DATA_SIZE: usize = 32768;

/// The scratch area `crypt_rn` works in, laid out as `struct crypt_data`:
/// the hash output comes first (`char output[CRYPT_OUTPUT_SIZE]`). The C
/// struct only holds `char`s; the alignment is that of `malloc`, as for a C
/// caller that allocates it.
#[repr(C, align(16))]
struct CryptData {
    bytes: [u8; CRYPT_DATA_SIZE],
}

#[link(name = "crypt")]
extern "C" {
    /// `char *crypt_rn(const char *phrase, const char *setting, void *data, int size);`
    ///
    /// Returns a pointer into `data` holding the NUL-terminated hash, or null
    /// on failure (invalid or unsupported setting, phrase too long, ...). It
    /// is thread-safe: all state lives in `data`, whose internal scratch part
    /// the library erases before returning.
    fn crypt_rn(phrase: *const c_char, setting: *const c_char, data: *mut c_void, size: c_int) -> *mut c_char;
}

/// crypt(3) through libxcrypt's `crypt_rn` (the thread-safe variant that
/// takes the size of its work area): hashes `phrase` with the method and salt
/// given by `setting` (a full hash such as a shadow entry's, or a salt string
/// such as `$6$salt$` or `$y$j9T$salt$`).
///
/// Returns `Some(hash)`, or `None` on error: `phrase` or `setting` holding a
/// NUL byte, an invalid or unsupported setting, a phrase longer than the
/// library accepts, and any result starting with `*` (libxcrypt's failure
/// tokens `*0`/`*1`, never a valid hash).
pub fn crypt(phrase: &str, setting: &str) -> Option<String> {
    let phrase = CString::new(phrase).ok()?;
    let Ok(setting) = CString::new(setting) else {
        wipe(phrase);
        return None;
    };
    // Zeroed, as libxcrypt asks for the first use of a `struct crypt_data`
    // (its `initialized` field must be 0). Boxed to keep 32 KiB off the
    // stack.
    let mut data = Box::new(CryptData {
        bytes: [0; CRYPT_DATA_SIZE],
    });
    let base = data.bytes.as_mut_ptr();

    // SAFETY: `phrase` and `setting` are valid NUL-terminated C strings that
    // outlive the call. `data` points to `CRYPT_DATA_SIZE` writable bytes,
    // aligned beyond what `struct crypt_data` needs, and `size` says exactly
    // that many (32768 fits in a c_int). `crypt_rn` keeps no pointer to any
    // argument after returning. The returned pointer is not dereferenced
    // here; it is only compared with `data`'s bounds below, and the output
    // is read from `data` with bounds checks.
    let ret = unsafe {
        crypt_rn(
            phrase.as_ptr(),
            setting.as_ptr(),
            base.cast::<c_void>(),
            CRYPT_DATA_SIZE as c_int,
        )
    };

    let result = if ret.is_null() {
        None
    } else {
        // The result lies within `data` (at offset 0 in libxcrypt); anything
        // else is treated as an error rather than trusted.
        let offset = (ret as usize).wrapping_sub(base as usize);
        data.bytes
            .get(offset..)
            .and_then(|tail| CStr::from_bytes_until_nul(tail).ok())
            .and_then(|s| s.to_str().ok())
            .filter(|s| !s.is_empty() && !s.starts_with('*'))
            .map(str::to_owned)
    };

    data.bytes.zeroize();
    wipe(phrase);
    result
}

/// Overwrites the copy of a passphrase made for the C call.
fn wipe(s: CString) {
    s.into_bytes_with_nul().zeroize();
}

#[cfg(test)]
mod tests {
    use super::*;

    // Generated independently of this crate: `openssl passwd -6 -salt saltsalt secret`
    // (OpenSSL's own sha512-crypt), identical to Python's `crypt.crypt("secret", "$6$saltsalt$")`.
    const SHA512_SECRET: &str =
        "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1";
    // Python 3.11: `crypt.crypt("secret", "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$")`
    // (j9T: the parameters Debian's passwd/chpasswd use).
    const YESCRYPT_SECRET: &str = "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$GmcwIgvdUC9qLWcKCi6gklUa1dM3ziD43YxYNURLKy0";
    // The yescrypt reference implementation's known answer (openwall/yescrypt
    // TESTS-OK, also in libxcrypt's test suite).
    const YESCRYPT_REFERENCE: &str = "$y$jD5.7$LdJMENpBABJJ3hIHjB1Bi.$HboGM6qPrsK.StKYGt6KErmUYtioHreJd98oIugoNB6";

    #[test]
    fn crypt_sha512_known_answer() {
        assert_eq!(crypt("secret", "$6$saltsalt$").as_deref(), Some(SHA512_SECRET));
        // A full hash as setting reproduces itself for the right phrase only.
        assert_eq!(crypt("secret", SHA512_SECRET).as_deref(), Some(SHA512_SECRET));
        let other = crypt("Secret", SHA512_SECRET).expect("sha512-crypt of another phrase");
        assert_ne!(other, SHA512_SECRET);
        assert!(other.starts_with("$6$saltsalt$"));
    }

    #[test]
    fn crypt_yescrypt_known_answers() {
        assert_eq!(
            crypt("secret", "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$").as_deref(),
            Some(YESCRYPT_SECRET)
        );
        assert_eq!(crypt("secret", YESCRYPT_SECRET).as_deref(), Some(YESCRYPT_SECRET));
        assert_ne!(crypt("secreT", YESCRYPT_SECRET).as_deref(), Some(YESCRYPT_SECRET));
        assert_eq!(
            crypt("pleaseletmein", "$y$jD5.7$LdJMENpBABJJ3hIHjB1Bi.").as_deref(),
            Some(YESCRYPT_REFERENCE)
        );
    }

    #[test]
    fn crypt_errors() {
        // Failure tokens and locked/disabled shadow fields are not settings.
        for setting in ["", "*", "!", "!$6$saltsalt$", "*0", "*1", "$y$", "$9$nonsense$"] {
            assert_eq!(crypt("secret", setting), None, "setting {setting:?}");
        }
        // NUL bytes cannot cross into C.
        assert_eq!(crypt("sec\0ret", "$6$saltsalt$"), None);
        assert_eq!(crypt("secret", "$6$salt\0salt$"), None);
        // Longer than CRYPT_MAX_PASSPHRASE_SIZE (512 with the NUL).
        assert_eq!(crypt(&"x".repeat(600), "$6$saltsalt$"), None);
    }

    #[test]
    fn crypt_is_thread_safe() {
        let handles: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| crypt("secret", "$6$saltsalt$")))
            .collect();
        for h in handles {
            assert_eq!(h.join().expect("thread").as_deref(), Some(SHA512_SECRET));
        }
    }
}
