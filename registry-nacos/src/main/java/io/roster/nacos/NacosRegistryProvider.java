package io.roster.nacos;

import io.roster.InvalidOptionException;
import io.roster.Registry;
import io.roster.spi.Options;
import io.roster.spi.RegistryProvider;
import io.roster.spi.RegistryUri;

import java.util.ArrayList;
import java.util.List;

/**
 * Serves {@code nacos://host1:8848,host2:8848?namespace=…&group=DEFAULT_GROUP&cluster=DEFAULT&username=…&password=…
 * &weight=100&timeout=3s&schemes=grpc,http&healthyOnly=true&verify=30s&reconnectGrace=10s}: a
 * {@link NacosRegistry}. The port defaults to 8848;
 * credentials may also come as user info ({@code nacos://user:password@host:8848}).
 */
public final class NacosRegistryProvider implements RegistryProvider {

    /** Creates the provider; called by {@link java.util.ServiceLoader}. */
    public NacosRegistryProvider() {
    }

    @Override
    public String scheme() {
        return "nacos";
    }

    @Override
    public Registry open(RegistryUri uri) {
        if (uri.hosts().isEmpty()) {
            throw new InvalidOptionException("hosts", "nacos URI needs at least one server, such as "
                    + "nacos://127.0.0.1:8848, was " + uri);
        }
        if (!uri.path().isEmpty() && !uri.path().equals("/")) {
            throw new InvalidOptionException("path", "nacos URI takes no path (the namespace is an option: "
                    + "?namespace=...), was " + uri);
        }
        List<String> servers = new ArrayList<>();
        for (String host : uri.hosts()) {
            servers.add(host.matches(".*:\\d+") ? host : host + ":8848");
        }
        NacosRegistry.Builder.checkServerAddr("hosts", String.join(",", servers));
        Options options = uri.options();
        NacosRegistry.Builder builder = NacosRegistry.builder().serverAddr(String.join(",", servers));
        options.string("namespace").ifPresent(builder::namespace);
        options.string("group").ifPresent(builder::group);
        options.string("cluster").ifPresent(builder::cluster);
        String user = options.string("username").orElse(uri.user().orElse(null));
        String password = options.secret("password").orElse(uri.password().orElse(null));
        if (user != null) {
            builder.username(user);
        }
        if (password != null) {
            if (user == null) {
                throw options.bad("password", "needs a username as well");
            }
            builder.password(password);
        }
        options.string("weight").ifPresent(w -> {
            try {
                builder.weight(Double.parseDouble(w.trim()));
            } catch (NumberFormatException e) {
                throw options.bad("weight", "expected a number, was '" + w + "'");
            }
        });
        options.duration("timeout").ifPresent(builder::timeout);
        options.string("schemes").ifPresent(s -> builder.schemes(List.of(s.split(",", -1))));
        builder.healthyOnly(options.bool("healthyOnly", true));
        options.duration("verify").ifPresent(builder::verifyInterval);
        options.duration("reconnectGrace").ifPresent(builder::reconnectGrace);
        options.requireAllKnown();
        return builder.build();
    }
}
