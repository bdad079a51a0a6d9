package io.roster.etcd;

import io.etcd.jetcd.KeyValue;
import io.roster.Registry;
import io.roster.spi.Inspection;
import io.roster.spi.Inspector;
import io.roster.spi.RegistryUri;

import java.nio.charset.StandardCharsets;
import java.util.Optional;

/**
 * Reads the keys of an {@code etcd://} registry as stored: every key under {@code <namespace>/} (or
 * {@code <namespace>/<service>/}), in one paged read at one revision, through the registry's own connection. Each
 * key should be {@code <namespace>/<name>/<id>}, on a lease, holding Kratos's instance JSON of that name and id.
 */
public final class EtcdInspector implements Inspector {

    /** Creates the inspector; called by {@link java.util.ServiceLoader}. */
    public EtcdInspector() {
    }

    /** What an inspection reads: the registry's connection and namespace. */
    record Source(EtcdConnection connection, String namespace) {
    }

    @Override
    public String scheme() {
        return "etcd";
    }

    @Override
    public Optional<String> timeoutOption() {
        return Optional.of("timeout");
    }

    @Override
    public Inspection inspect(Registry registry, RegistryUri uri, String service) {
        if (!(registry instanceof EtcdRegistry)) {
            return Inspection.generic(registry, service, "not an EtcdRegistry", (done, total) -> { });
        }
        Source source = ((EtcdRegistry) registry).inspectionSource();
        String root = source.namespace() + "/";
        String prefix = service == null ? root : root + service + "/";
        EtcdConnection.Range range = source.connection().readPrefix("inspect " + prefix,
                EtcdConnection.bytes(prefix), false, EtcdConnection::successor);
        Inspection.Builder builder = Inspection.builder("etcd keys under " + prefix + " at revision "
                + range.revision());
        for (KeyValue kv : range.kvs()) {
            check(builder, root, kv);
        }
        return builder.build();
    }

    private static void check(Inspection.Builder builder, String root, KeyValue kv) {
        String key = kv.getKey().toString(StandardCharsets.UTF_8);
        String value = kv.getValue().toString(StandardCharsets.UTF_8);
        String rest = key.substring(root.length());
        int slash = rest.indexOf('/');
        if (slash < 0) {
            builder.record(key, rest, value, null).problem(key, Inspection.Kind.MALFORMED_LOCATION,
                    "the key has no id: expected " + root + "<name>/<id>");
            return;
        }
        String name = rest.substring(0, slash);
        String id = rest.substring(slash + 1);
        boolean nameOk = builder.serviceName(key, name);
        if (id.isEmpty() || id.indexOf('/') >= 0) {
            builder.problem(key, Inspection.Kind.MALFORMED_LOCATION, id.isEmpty() ? "the key has an empty id"
                    : "the key has a level too many: expected " + root + "<name>/<id>");
            id = null;
        }
        if (kv.getLease() == 0) {
            builder.problem(key, Inspection.Kind.NO_EXPIRY, "the key is on no lease: it stays after the process "
                    + "that wrote it is gone");
        }
        // A name that is no name cannot be compared with the record's: its own problem says enough.
        builder.decode(key, nameOk ? name : null, id, value);
    }
}
