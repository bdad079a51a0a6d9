package io.roster.cli;

import io.roster.ServiceInstance;
import io.roster.spi.RegistryUri;

import java.net.URI;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeSet;

/** What differs between two lists of a service, instance by instance (by id). */
final class Changes {

    enum Type {
        ADDED("added"), CHANGED("changed"), REMOVED("removed");

        final String word;

        Type(String word) {
            this.word = word;
        }
    }

    /**
     * One instance's change.
     *
     * @param type added, changed or removed
     * @param before the instance before, null when added
     * @param after the instance after, null when removed
     */
    record Change(Type type, ServiceInstance before, ServiceInstance after) {
        String id() {
            return after != null ? after.id() : before.id();
        }

        /** For a changed instance: what changed, such as {@code version v1 -> v2; endpoints +grpc://…}. */
        String detail() {
            if (type != Type.CHANGED) {
                return "";
            }
            List<String> parts = new ArrayList<>();
            if (!before.version().equals(after.version())) {
                parts.add("version " + before.version() + " -> " + after.version());
            }
            if (!before.endpoints().equals(after.endpoints())) {
                List<String> diff = new ArrayList<>();
                after.endpoints().stream().filter(e -> !before.endpoints().contains(e))
                        .forEach(e -> diff.add("+" + shown(e)));
                before.endpoints().stream().filter(e -> !after.endpoints().contains(e))
                        .forEach(e -> diff.add("-" + shown(e)));
                parts.add("endpoints " + (diff.isEmpty() ? "reordered" : String.join(" ", diff)));
            }
            if (!before.metadata().equals(after.metadata())) {
                List<String> diff = new ArrayList<>();
                TreeSet<String> keys = new TreeSet<>(before.metadata().keySet());
                keys.addAll(after.metadata().keySet());
                for (String key : keys) {
                    String was = before.metadata().get(key);
                    String now = after.metadata().get(key);
                    if (was == null) {
                        diff.add("+" + key + "=" + now);
                    } else if (now == null) {
                        diff.add("-" + key);
                    } else if (!was.equals(now)) {
                        diff.add(key + " " + was + " -> " + now);
                    }
                }
                parts.add("metadata " + String.join(" ", diff));
            }
            return String.join("; ", parts);
        }
    }

    private Changes() {
    }

    /** The changes from one list to the next, ordered by id. */
    static List<Change> between(List<ServiceInstance> before, List<ServiceInstance> after) {
        Map<String, ServiceInstance> was = byId(before);
        Map<String, ServiceInstance> now = byId(after);
        TreeSet<String> ids = new TreeSet<>(was.keySet());
        ids.addAll(now.keySet());
        List<Change> changes = new ArrayList<>();
        for (String id : ids) {
            ServiceInstance b = was.get(id);
            ServiceInstance a = now.get(id);
            if (b == null) {
                changes.add(new Change(Type.ADDED, null, a));
            } else if (a == null) {
                changes.add(new Change(Type.REMOVED, b, null));
            } else if (!Objects.equals(a, b)) {
                changes.add(new Change(Type.CHANGED, b, a));
            }
        }
        return changes;
    }

    private static Map<String, ServiceInstance> byId(List<ServiceInstance> instances) {
        Map<String, ServiceInstance> map = new LinkedHashMap<>();
        instances.forEach(i -> map.put(i.id(), i));
        return map;
    }

    static String shown(URI endpoint) {
        return RegistryUri.redact(endpoint.toString());
    }
}
