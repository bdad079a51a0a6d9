package io.roster.polaris;

import io.roster.InvalidOptionException;
import io.roster.Registry;
import io.roster.spi.Options;
import io.roster.spi.RegistryProvider;
import io.roster.spi.RegistryUri;

import java.nio.file.Path;
import java.util.List;

/**
 * Serves {@code polaris://host1:8091,host2:8091?namespace=default&ttl=5s&token=…&accessToken=…&weight=100
 * &timeout=3s&refresh=2s&registrySchemes=grpc,http&caFile=…&certFile=…&keyFile=…}: a {@link PolarisRegistry}. The port defaults
 * to 8091, Polaris's gRPC port. {@code token} is the service token, {@code accessToken} the token of Polaris's
 * authentication; both are secrets, never shown.
 */
public final class PolarisRegistryProvider implements RegistryProvider {

    /** Creates the provider; called by {@link java.util.ServiceLoader}. */
    public PolarisRegistryProvider() {
    }

    @Override
    public String scheme() {
        return "polaris";
    }

    @Override
    public Registry open(RegistryUri uri) {
        if (uri.hosts().isEmpty()) {
            throw new InvalidOptionException("hosts", "polaris URI needs at least one server, such as "
                    + "polaris://127.0.0.1:8091, was " + uri);
        }
        if (!uri.path().isEmpty() && !uri.path().equals("/")) {
            throw new InvalidOptionException("path", "polaris URI takes no path (the namespace is an option: "
                    + "?namespace=...), was " + uri);
        }
        if (uri.user().isPresent()) {
            throw new InvalidOptionException("uri", "polaris URI takes no user info; give the token as "
                    + "?accessToken=... or ?token=...");
        }
        PolarisRegistry.Builder builder = PolarisRegistry.builder();
        for (String host : uri.hosts()) {
            builder.address(host.matches(".*:\\d+") ? host : host + ":8091");
        }
        Options options = uri.options();
        options.string("namespace").ifPresent(n -> {
            if (n.isBlank()) {
                throw options.bad("namespace", "must not be empty");
            }
            builder.namespace(n);
        });
        options.secret("token").ifPresent(builder::token);
        options.secret("accessToken").ifPresent(builder::accessToken);
        options.duration("ttl").ifPresent(builder::ttl);
        options.duration("timeout").ifPresent(builder::timeout);
        options.duration("refresh").ifPresent(builder::refresh);
        options.string("weight").ifPresent(w -> {
            try {
                builder.weight(Integer.parseInt(w.trim()));
            } catch (NumberFormatException e) {
                throw options.bad("weight", "expected an integer from 1 to 10000, was '" + w + "'");
            }
        });
        options.string("registrySchemes").ifPresent(s -> builder.registrySchemes(List.of(s.split(",", -1))));
        options.string("caFile").ifPresent(f -> builder.caFile(Path.of(f)));
        String cert = options.string("certFile").orElse(null);
        String key = options.string("keyFile").orElse(null);
        if ((cert == null) != (key == null)) {
            throw options.bad(cert == null ? "certFile" : "keyFile", "needs certFile and keyFile together");
        }
        if (cert != null) {
            builder.clientCertificate(Path.of(cert), Path.of(key));
        }
        options.requireAllKnown();
        return builder.build();
    }
}
