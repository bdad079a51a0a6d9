package io.roster.spi;

import io.roster.Discovery;
import io.roster.InvalidInstanceException;
import io.roster.ServiceInstance;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * What a raw read of a registry found: every record under the backend's layout (where it is stored, its text, the
 * instance it decodes to when it decodes leniently) and every problem, each named by its location and a stable
 * {@link Kind}. Made by an {@link Inspector} with {@link #builder}, or by {@link #generic} over the discovery API
 * for a backend without one.
 */
public final class Inspection {
    private final String layout;
    private final boolean raw;
    private final String note;
    private final List<Record> records;
    private final List<Problem> problems;

    private Inspection(String layout, boolean raw, String note, List<Record> records, List<Problem> problems) {
        this.layout = layout;
        this.raw = raw;
        this.note = note;
        this.records = List.copyOf(records);
        this.problems = List.copyOf(problems);
    }

    /** What can be wrong with a record. The {@link #code() codes} are stable: scripts may match on them. */
    public enum Kind {
        /** The service name in the record's location (key, path) is empty or blank: {@code /microservices//x}. */
        EMPTY_SERVICE_NAME,
        /** The service name in the location is not one anyone could ask for ({@code @@}, control characters). */
        MALFORMED_SERVICE_NAME,
        /** The location does not fit the layout: no id, an empty id, a level too many. */
        MALFORMED_LOCATION,
        /** The record does not decode into an instance (not JSON, a field of the wrong type, no id). */
        NOT_DECODABLE,
        /** The record names another service than the one its location files it under. */
        NAME_MISMATCH,
        /** The record names another id than its location does. */
        ID_MISMATCH,
        /** The instance has no usable endpoint: nobody can call it. */
        NO_ENDPOINT,
        /** An endpoint without a usable scheme, host and port; readers drop it. */
        BAD_ENDPOINT,
        /** Two records hold the same instance id of one service; readers see only one. */
        DUPLICATE_ID,
        /** The record is not tied to a lease or session, so it outlives the process that wrote it. */
        NO_EXPIRY,
        /** A health check of the instance is critical (Consul): passing-only readers do not see it. */
        CHECK_CRITICAL,
        /** The backend marks the instance unhealthy (Nacos): healthy-only readers do not see it. */
        UNHEALTHY,
        /** Some of the records of an instance written one per endpoint are missing or disagree (Nacos). */
        PARTIAL_INSTANCE,
        /** The record exists but cannot be read (no permission). */
        UNREADABLE,
        /**
         * The instance's weight is 0 (Kratos's Polaris default): weighted balancers never pick it, or starve it.
         */
        ZERO_WEIGHT,
        /**
         * The versions a record carries disagree, so readers may show another version than the one registered
         * (ServiceComb: {@code roster.version} against the instance's version, or properties rewritten without it).
         */
        VERSION_MISMATCH;

        /**
         * Returns the stable code of this kind, for output and scripts.
         *
         * @return such as {@code empty-service-name}
         */
        public String code() {
            return name().toLowerCase(Locale.ROOT).replace('_', '-');
        }
    }

    /**
     * One problem.
     *
     * @param location where it is: the record's location, such as the etcd key
     * @param kind what kind of problem it is
     * @param detail what exactly is wrong, in a sentence; no secrets
     */
    public record Problem(String location, Kind kind, String detail) {
        /**
         * Checks the fields.
         *
         * @param location where it is
         * @param kind the kind
         * @param detail what is wrong
         */
        public Problem {
            Objects.requireNonNull(location, "location");
            Objects.requireNonNull(kind, "kind");
            Objects.requireNonNull(detail, "detail");
        }
    }

    /**
     * One record as stored.
     *
     * @param location where it is stored, such as the etcd key {@code /microservices/greeter/1}
     * @param service the service its location files it under (may be empty: that is a problem)
     * @param text its content as stored, or as the backend's API returns it
     * @param instance the instance it decodes to, leniently; empty when it does not decode
     */
    public record Record(String location, String service, String text, Optional<ServiceInstance> instance) {
        /**
         * Checks the fields.
         *
         * @param location where it is stored
         * @param service the service of its location
         * @param text its content
         * @param instance the instance, or empty
         */
        public Record {
            Objects.requireNonNull(location, "location");
            Objects.requireNonNull(service, "service");
            Objects.requireNonNull(text, "text");
            Objects.requireNonNull(instance, "instance");
        }
    }

    /** Told how far a long read has come. */
    @FunctionalInterface
    public interface Progress {
        /**
         * Reports progress.
         *
         * @param done how many steps are done
         * @param total how many there are
         */
        void update(int done, int total);
    }

    /**
     * Starts a raw inspection.
     *
     * @param layout what is read, such as {@code etcd keys under /microservices/}
     * @return a builder
     */
    public static Builder builder(String layout) {
        return new Builder(layout, true);
    }

    /**
     * Checks a registry through the discovery API alone, for a backend that has no {@link Inspector} or whose
     * inspector cannot read this registry: each service's instances as {@code getService} returns them, checked
     * for duplicate ids, a name other than the one asked for, and no endpoint. Records the backend skips as
     * malformed are not seen.
     *
     * @param discovery the registry
     * @param service one service, or {@code null} for every service {@code services()} lists
     * @param why why there is no raw read, for the note
     * @param progress told after each service read
     * @return the inspection, not {@link #raw()}
     * @throws io.roster.RegistryException when the registry fails
     */
    public static Inspection generic(Discovery discovery, String service, String why, Progress progress) {
        Objects.requireNonNull(discovery, "discovery");
        Objects.requireNonNull(progress, "progress");
        Builder builder = new Builder("instances as getService() returns them", false);
        builder.note("no raw reader" + (why == null || why.isBlank() ? "" : ": " + why)
                + "; records the backend skips as malformed are not seen");
        List<String> names = service == null ? discovery.services() : List.of(service);
        for (int i = 0; i < names.size(); i++) {
            String name = names.get(i);
            for (ServiceInstance instance : discovery.getService(name)) {
                builder.instance(name + "/" + instance.id(), name, InstanceJson.encode(instance), instance);
            }
            progress.update(i + 1, names.size());
        }
        return builder.build();
    }

    /**
     * Returns what was read.
     *
     * @return such as {@code etcd keys under /microservices/}
     */
    public String layout() {
        return layout;
    }

    /**
     * Tells whether the records were read raw, under the backend's layout, rather than through the discovery API.
     *
     * @return false for {@link #generic}
     */
    public boolean raw() {
        return raw;
    }

    /**
     * Returns a remark on the read, such as why it is not raw.
     *
     * @return the note, or empty
     */
    public Optional<String> note() {
        return note.isEmpty() ? Optional.empty() : Optional.of(note);
    }

    /**
     * Returns the records, in the order read.
     *
     * @return an immutable list
     */
    public List<Record> records() {
        return records;
    }

    /**
     * Returns the problems, in the order found.
     *
     * @return an immutable list; empty when the registry is clean
     */
    public List<Problem> problems() {
        return problems;
    }

    /**
     * Returns the problems at one location.
     *
     * @param location a record's location
     * @return those problems, in the order found
     */
    public List<Problem> problemsAt(String location) {
        return problems.stream().filter(p -> p.location().equals(location)).toList();
    }

    /**
     * Tells whether nothing is wrong.
     *
     * @return true when there are no problems
     */
    public boolean isClean() {
        return problems.isEmpty();
    }

    @Override
    public String toString() {
        return "Inspection{" + layout + (raw ? "" : " (generic)") + ", " + records.size() + " records, "
                + problems.size() + " problems}";
    }

    /**
     * Collects records and problems, applying the checks every layout shares. Not thread-safe.
     */
    public static final class Builder {
        private final String layout;
        private final boolean raw;
        private String note = "";
        private final List<Record> records = new ArrayList<>();
        private final List<Problem> problems = new ArrayList<>();
        /** The location of the first whole instance of each service and id, to name duplicates. */
        private final Map<List<String>, String> firstById = new HashMap<>();

        private Builder(String layout, boolean raw) {
            this.layout = Objects.requireNonNull(layout, "layout");
            this.raw = raw;
        }

        /**
         * Sets a remark on the read.
         *
         * @param note such as why some records could not be read
         * @return this builder
         */
        public Builder note(String note) {
            this.note = Objects.requireNonNull(note, "note");
            return this;
        }

        /**
         * Adds a problem.
         *
         * @param location where it is
         * @param kind its kind
         * @param detail what is wrong; no secrets
         * @return this builder
         */
        public Builder problem(String location, Kind kind, String detail) {
            problems.add(new Problem(location, kind, printable(detail))); // it may quote any stored text
            return this;
        }

        /**
         * Adds a record without checking it: for a part of an instance (backends that store one record per
         * endpoint) or a record that does not decode, whose problems the caller adds.
         *
         * @param location where it is stored
         * @param service the service its location files it under
         * @param text its content
         * @param instance what it decodes to, or {@code null}
         * @return this builder
         */
        public Builder record(String location, String service, String text, ServiceInstance instance) {
            records.add(new Record(location, service, text, Optional.ofNullable(instance)));
            return this;
        }

        /**
         * Checks the service name a location holds: {@link Kind#EMPTY_SERVICE_NAME} when it is empty or blank,
         * {@link Kind#MALFORMED_SERVICE_NAME} when {@link ServiceInstance#requireReadableName} refuses it.
         *
         * @param location the location holding the name
         * @param name the name, as stored
         * @return whether the name is fine
         */
        public boolean serviceName(String location, String name) {
            if (name == null || name.isBlank()) {
                problem(location, Kind.EMPTY_SERVICE_NAME, "the service name in " + location + " is "
                        + (name == null || name.isEmpty() ? "empty" : "blank ('" + printable(name) + "')"));
                return false;
            }
            try {
                ServiceInstance.requireReadableName(name);
                return true;
            } catch (InvalidInstanceException e) {
                problem(location, Kind.MALFORMED_SERVICE_NAME, "the service name '" + printable(name) + "' in "
                        + location + " is malformed: " + RegistryUri.redact(e.getMessage()));
                return false;
            }
        }

        /**
         * Adds a record holding instance JSON (Kratos's format, {@link InstanceJson}) filed under a service and
         * an id, and checks it: {@link Kind#NOT_DECODABLE}, {@link Kind#BAD_ENDPOINT} for each endpoint readers
         * drop, then the checks of {@link #instance}, and {@link Kind#ID_MISMATCH}.
         *
         * @param location where it is stored
         * @param service the service its location files it under, or {@code null} to skip that comparison
         * @param id the id its location gives, or {@code null} to skip that comparison
         * @param json the stored text
         * @return the instance, when the record decodes
         */
        public Optional<ServiceInstance> decode(String location, String service, String id, String json) {
            List<String> dropped = new ArrayList<>();
            ServiceInstance instance;
            try {
                instance = InstanceJson.decode(json, dropped);
            } catch (InvalidInstanceException e) {
                record(location, service == null ? "" : service, json, null);
                problem(location, Kind.NOT_DECODABLE, "the record does not decode as an instance: "
                        + RegistryUri.redact(e.getMessage()));
                return Optional.empty();
            }
            for (String endpoint : dropped) {
                problem(location, Kind.BAD_ENDPOINT, "endpoint " + endpoint + " has no usable scheme://host:port;"
                        + " readers drop it");
            }
            instance(location, service == null ? instance.name() : service, json, instance);
            if (id != null && !id.equals(instance.id())) {
                problem(location, Kind.ID_MISMATCH, "the record's id is '" + printable(instance.id())
                        + "' but its location says '" + printable(id) + "'");
            }
            return Optional.of(instance);
        }

        /**
         * Adds a record holding a whole instance and checks it: {@link Kind#NAME_MISMATCH} when the instance
         * names another service than {@code service}, {@link Kind#NO_ENDPOINT}, {@link Kind#DUPLICATE_ID} when an
         * earlier record holds the same service and id.
         *
         * @param location where it is stored
         * @param service the service its location files it under
         * @param text its content
         * @param instance the instance it decodes to
         * @return this builder
         */
        public Builder instance(String location, String service, String text, ServiceInstance instance) {
            record(location, service, text, Objects.requireNonNull(instance, "instance"));
            if (!instance.name().equals(service)) {
                problem(location, Kind.NAME_MISMATCH, "the record names service '" + printable(instance.name())
                        + "' but is filed under '" + printable(service) + "'");
            }
            if (instance.endpoints().isEmpty()) {
                problem(location, Kind.NO_ENDPOINT, "instance " + printable(instance.id())
                        + " has no usable endpoint");
            }
            String first = firstById.putIfAbsent(List.of(instance.name(), instance.id()), location);
            if (first != null) {
                problem(location, Kind.DUPLICATE_ID, "instance id '" + printable(instance.id()) + "' of service '"
                        + printable(instance.name()) + "' is also held by " + first);
            }
            return this;
        }

        /**
         * Finishes the inspection.
         *
         * @return the inspection
         */
        public Inspection build() {
            return new Inspection(layout, raw, note, records, problems);
        }
    }

    /**
     * Shows control characters as unicode escapes (a backslash, {@code u} and four hex digits), as problem details
     * do, so that stored text (a malformed name, a key) cannot move a terminal's cursor or change its colours: for
     * tools that print records.
     *
     * @param text any text
     * @return the text with each control character escaped
     */
    public static String printable(String text) {
        StringBuilder sb = new StringBuilder(text.length());
        text.codePoints().forEach(c -> {
            if (Character.isISOControl(c)) {
                sb.append(String.format("\\u%04x", c));
            } else {
                sb.appendCodePoint(c);
            }
        });
        return sb.toString();
    }
}
