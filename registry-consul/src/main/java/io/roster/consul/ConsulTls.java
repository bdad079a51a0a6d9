package io.roster.consul;

import io.roster.InvalidOptionException;

import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Builds the {@link SSLContext} for {@code tls=true} from PEM files, as Consul's own tooling writes them: a CA
 * bundle to trust ({@code caFile}; the JDK's default trust store when absent) and, for mutual TLS, a certificate
 * chain ({@code certFile}) with its private key ({@code keyFile}: PKCS#8 {@code PRIVATE KEY}, PKCS#1
 * {@code RSA PRIVATE KEY}, or SEC1 {@code EC PRIVATE KEY} as {@code consul tls cert create} writes; unencrypted).
 */
final class ConsulTls {
    private static final Pattern PEM = Pattern.compile(
            "-----BEGIN ([A-Z0-9 ]+)-----\\s*([A-Za-z0-9+/=\\s]+?)\\s*-----END \\1-----");
    private static final byte[] RSA_ALGORITHM = hex("300d06092a864886f70d0101010500");
    private static final byte[] EC_PUBLIC_KEY_OID = hex("06072a8648ce3d0201");

    private ConsulTls() {
    }

    /**
     * Builds the context.
     *
     * @param caFile PEM certificates to trust, or null for the JDK's defaults
     * @param certFile PEM client certificate chain, or null
     * @param keyFile PEM private key of {@code certFile}, or null
     * @return the context
     * @throws InvalidOptionException naming the option whose file is unreadable or malformed
     */
    static SSLContext context(Path caFile, Path certFile, Path keyFile) {
        TrustManager[] trust = null;
        if (caFile != null) {
            Collection<? extends Certificate> cas = certificates("caFile", caFile);
            try {
                KeyStore store = emptyStore();
                int i = 0;
                for (Certificate ca : cas) {
                    store.setCertificateEntry("ca-" + i++, ca);
                }
                TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
                tmf.init(store);
                trust = tmf.getTrustManagers();
            } catch (GeneralSecurityException | IOException e) {
                throw bad("caFile", caFile, e.toString());
            }
        }
        KeyManager[] keys = null;
        if (certFile != null) {
            List<Certificate> chain = new ArrayList<>(certificates("certFile", certFile));
            PublicKey certified = chain.get(0).getPublicKey();
            PrivateKey key = privateKey(keyFile, certified.getAlgorithm());
            if (!matches(key, certified)) {
                throw bad("keyFile", keyFile, "is not the private key of certFile " + certFile + " (a "
                        + key.getAlgorithm() + " key for a " + certified.getAlgorithm() + " certificate)");
            }
            try {
                KeyStore store = emptyStore();
                store.setKeyEntry("client", key, new char[0], chain.toArray(new Certificate[0]));
                KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
                kmf.init(store, new char[0]);
                keys = kmf.getKeyManagers();
            } catch (GeneralSecurityException | IOException e) {
                throw bad("keyFile", keyFile, "does not match certFile " + certFile + " (" + e + ")");
            }
        }
        try {
            SSLContext context = SSLContext.getInstance("TLS");
            context.init(keys, trust, null);
            return context;
        } catch (GeneralSecurityException e) {
            throw new InvalidOptionException("tls", "consul option 'tls': cannot set up TLS (" + e + ")");
        }
    }

    /** Signs a few bytes with the key and checks them with the certificate's public key. */
    private static boolean matches(PrivateKey key, PublicKey certified) {
        if (!key.getAlgorithm().equals(certified.getAlgorithm())) {
            return false;
        }
        String algorithm = key.getAlgorithm().equals("EC") ? "SHA256withECDSA" : "SHA256with" + key.getAlgorithm();
        try {
            byte[] probe = "roster".getBytes(StandardCharsets.US_ASCII);
            Signature signer = Signature.getInstance(algorithm);
            signer.initSign(key);
            signer.update(probe);
            byte[] signature = signer.sign();
            Signature verifier = Signature.getInstance(algorithm);
            verifier.initVerify(certified);
            verifier.update(probe);
            return verifier.verify(signature);
        } catch (GeneralSecurityException e) {
            return true; // an algorithm we cannot probe: the TLS handshake will tell
        }
    }

    private static KeyStore emptyStore() throws GeneralSecurityException, IOException {
        KeyStore store = KeyStore.getInstance("PKCS12");
        store.load(null, null);
        return store;
    }

    private static Collection<? extends Certificate> certificates(String option, Path file) {
        byte[] pem = read(option, file);
        try {
            Collection<? extends Certificate> certs = CertificateFactory.getInstance("X.509")
                    .generateCertificates(new ByteArrayInputStream(pem));
            if (certs.isEmpty()) {
                throw bad(option, file, "holds no PEM certificate");
            }
            return certs;
        } catch (GeneralSecurityException e) {
            throw bad(option, file, "is not a PEM certificate file (" + e.getMessage() + ")");
        }
    }

    private static PrivateKey privateKey(Path file, String algorithm) {
        String text = new String(read("keyFile", file), StandardCharsets.US_ASCII);
        Matcher m = PEM.matcher(text);
        while (m.find()) {
            String type = m.group(1);
            if (!type.endsWith("PRIVATE KEY")) {
                continue;
            }
            byte[] der;
            try {
                der = Base64.getMimeDecoder().decode(m.group(2));
            } catch (IllegalArgumentException e) {
                throw bad("keyFile", file, "has a malformed " + type + " block");
            }
            try {
                switch (type) {
                    case "PRIVATE KEY":
                        return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(der));
                    case "RSA PRIVATE KEY":
                        return KeyFactory.getInstance("RSA").generatePrivate(
                                new PKCS8EncodedKeySpec(pkcs8(RSA_ALGORITHM, der)));
                    case "EC PRIVATE KEY":
                        return KeyFactory.getInstance("EC").generatePrivate(
                                new PKCS8EncodedKeySpec(pkcs8(ecAlgorithm(der), der)));
                    default:
                        throw bad("keyFile", file, "holds a " + type + "; only unencrypted PRIVATE KEY, RSA PRIVATE KEY"
                                + " and EC PRIVATE KEY are supported (openssl pkcs8 -topk8 -nocrypt converts)");
                }
            } catch (GeneralSecurityException | IllegalArgumentException e) {
                throw bad("keyFile", file, "holds a " + type + " that is not a valid " + algorithm + " key (" + e
                        + ")");
            }
        }
        throw bad("keyFile", file, "holds no PEM private key");
    }

    /** PKCS#8 PrivateKeyInfo: SEQUENCE { INTEGER 0, algorithm, OCTET STRING key }. */
    private static byte[] pkcs8(byte[] algorithm, byte[] key) {
        return der(0x30, concat(hex("020100"), algorithm, der(0x04, key)));
    }

    /** SEC1 ECPrivateKey: SEQUENCE { INTEGER 1, OCTET STRING, [0] curve OID, [1] BIT STRING }: find the curve. */
    private static byte[] ecAlgorithm(byte[] sec1) {
        int[] pos = {0};
        if ((sec1[pos[0]++] & 0xff) != 0x30) {
            throw new IllegalArgumentException("not a DER sequence");
        }
        int end = length(sec1, pos) + pos[0];
        while (pos[0] < end) {
            int tag = sec1[pos[0]++] & 0xff;
            int len = length(sec1, pos);
            if (tag == 0xa0) {
                byte[] curve = java.util.Arrays.copyOfRange(sec1, pos[0], pos[0] + len);
                return der(0x30, concat(EC_PUBLIC_KEY_OID, curve));
            }
            pos[0] += len;
        }
        throw new IllegalArgumentException("the EC key does not name its curve");
    }

    private static int length(byte[] der, int[] pos) {
        int first = der[pos[0]++] & 0xff;
        if (first < 0x80) {
            return first;
        }
        int len = 0;
        for (int i = 0; i < (first & 0x7f); i++) {
            len = len << 8 | der[pos[0]++] & 0xff;
        }
        return len;
    }

    private static byte[] der(int tag, byte[] content) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(tag);
        int len = content.length;
        if (len < 0x80) {
            out.write(len);
        } else {
            int bytes = len > 0xffff ? 3 : len > 0xff ? 2 : 1;
            out.write(0x80 | bytes);
            for (int i = bytes - 1; i >= 0; i--) {
                out.write(len >> 8 * i & 0xff);
            }
        }
        out.writeBytes(content);
        return out.toByteArray();
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    private static byte[] hex(String s) {
        byte[] b = new byte[s.length() / 2];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        }
        return b;
    }

    private static byte[] read(String option, Path file) {
        try {
            return Files.readAllBytes(file);
        } catch (IOException e) {
            throw bad(option, file, "cannot be read (" + e + ")");
        }
    }

    private static InvalidOptionException bad(String option, Path file, String why) {
        return new InvalidOptionException(option, "consul option '" + option + "': " + file + " " + why);
    }
}
