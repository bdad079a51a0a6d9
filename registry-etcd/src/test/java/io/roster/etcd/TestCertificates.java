package io.roster.etcd;

import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

import java.io.IOException;
import java.io.Writer;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.spec.ECGenParameterSpec;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Date;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A throwaway CA with a server certificate for 127.0.0.1/localhost and a client certificate, written as PEM files
 * (keys as PKCS#8), as an operator would hand them to etcd and to its clients.
 */
final class TestCertificates {
    private static final AtomicLong SERIAL = new AtomicLong(System.currentTimeMillis());

    final Path ca;
    final Path serverCert;
    final Path serverKey;
    final Path clientCert;
    final Path clientKey;

    private TestCertificates(Path dir) throws Exception {
        KeyPair caKeys = keys();
        X500Name caName = new X500Name("CN=Roster Test CA");
        X509CertificateHolder caCert = sign(caName, caName, caKeys, caKeys, b -> {
            b.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
            b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
        });
        ca = write(dir.resolve("ca.pem"), caCert);

        KeyPair server = keys();
        X509CertificateHolder serverHolder = sign(caName, new X500Name("CN=localhost"), server, caKeys, b -> {
            b.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(new GeneralName[] {
                new GeneralName(GeneralName.iPAddress, "127.0.0.1"), new GeneralName(GeneralName.dNSName, "localhost")}));
            b.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(
                    new KeyPurposeId[] {KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth}));
        });
        serverCert = write(dir.resolve("server.pem"), serverHolder);
        serverKey = write(dir.resolve("server-key.pem"), new JcaPKCS8Generator(server.getPrivate(), null));

        KeyPair client = keys();
        X509CertificateHolder clientHolder = sign(caName, new X500Name("CN=app"), client, caKeys, b ->
                b.addExtension(Extension.extendedKeyUsage, false,
                        new ExtendedKeyUsage(KeyPurposeId.id_kp_clientAuth)));
        clientCert = write(dir.resolve("client.pem"), clientHolder);
        clientKey = write(dir.resolve("client-key.pem"), new JcaPKCS8Generator(client.getPrivate(), null));
    }

    static TestCertificates create(Path dir) {
        try {
            return new TestCertificates(dir);
        } catch (Exception e) {
            throw new IllegalStateException("generating test certificates failed", e);
        }
    }

    private interface Extensions {
        void add(JcaX509v3CertificateBuilder builder) throws IOException;
    }

    private static KeyPair keys() throws GeneralSecurityException {
        KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
        generator.initialize(new ECGenParameterSpec("secp256r1"));
        return generator.generateKeyPair();
    }

    private static X509CertificateHolder sign(X500Name issuer, X500Name subject, KeyPair subjectKeys, KeyPair issuerKeys,
                                              Extensions extensions) throws Exception {
        Instant now = Instant.now();
        JcaX509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(issuer,
                BigInteger.valueOf(SERIAL.incrementAndGet()), Date.from(now.minus(1, ChronoUnit.HOURS)),
                Date.from(now.plus(1, ChronoUnit.DAYS)), subject, subjectKeys.getPublic());
        extensions.add(builder);
        return builder.build(new JcaContentSignerBuilder("SHA256withECDSA").build(issuerKeys.getPrivate()));
    }

    private static Path write(Path file, Object pem) throws IOException {
        try (Writer out = Files.newBufferedWriter(file); JcaPEMWriter writer = new JcaPEMWriter(out)) {
            writer.writeObject(pem);
        }
        return file;
    }
}
