package io.roster.kubernetes;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.roster.InvalidInstanceException;
import io.roster.ServiceInstance;
import io.roster.spi.Endpoints;
import io.roster.spi.InstanceJson;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import java.util.regex.Pattern;

/**
 * Kratos's layout on a pod, both ways ({@code kratos-registry.md} §7 and §13): the registration is three labels and two
 * annotations on the pod the process runs in.
 *
 * <pre>
 * labels:       kratos-service-id: 7e0c…   kratos-service-app: greeter   kratos-service-version: v1.2.0
 * annotations:  kratos-service-metadata:  {"region":"sh","zone":"sh001"}     (null when there is none)
 *               kratos-service-protocols: {"8000":"http","9000":"grpc"}      (container port → scheme)
 * </pre>
 *
 * <p>Both JSON texts are written as Go's {@code encoding/json} writes a {@code map[string]string} (keys sorted;
 * Kratos's jsoniter leaves Go's random map order, which readers ignore). Reading follows Kratos with two fixes: only
 * pods that are Running, Ready and not terminating are instances (Kratos serves unready and terminating pods), and
 * when the protocols annotation names ports, the endpoints are exactly those ports on the pod IP (Kratos also lists
 * every other container port, such as a sidecar's metrics port). Without the annotation (labels set in a Deployment
 * template) every container port is an endpoint, its scheme the port name up to the first {@code -}
 * ({@code grpc-api} → {@code grpc}), else the port's protocol, as Kratos does.
 */
final class PodLayout {
    private static final Logger LOG = LoggerFactory.getLogger(PodLayout.class);

    static final String ID = "kratos-service-id";
    static final String APP = "kratos-service-app";
    static final String VERSION = "kratos-service-version";
    static final String METADATA = "kratos-service-metadata";
    static final String PROTOCOLS = "kratos-service-protocols";

    /** Kubernetes's rule for label values (apimachinery's {@code IsValidLabelValue}). */
    private static final Pattern LABEL_VALUE = Pattern.compile("(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?");
    private static final int MAX_LABEL_VALUE = 63;
    /** The API server's limit on the total size of an object's annotations. */
    static final int MAX_ANNOTATIONS_BYTES = 256 * 1024;
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Bad pods already logged (uid and the offending text), so that a bad pod is logged once, not per read. */
    private static final Set<String> LOGGED = ConcurrentHashMap.newKeySet();

    private PodLayout() {
    }

    // ------------------------------------------------------------------------------------------------- writing

    /**
     * Checks what Kubernetes and the layout demand of an instance before anything is sent: name, version and id are
     * label values; every endpoint port maps to one scheme; the annotations fit the API server's limit.
     *
     * @throws InvalidInstanceException naming the field and the rule
     */
    static void requireWritable(ServiceInstance instance) {
        requireLabelValue("name", instance.name());
        requireLabelValue("version", instance.version());
        requireLabelValue("id", instance.id());
        if (instance.endpoints().isEmpty()) {
            throw new InvalidInstanceException("endpoints", "must not be empty on Kubernetes: a pod without "
                    + "the '" + PROTOCOLS + "' annotation is read (by Kratos too) as serving every container port", "");
        }
        Map<String, String> schemes = new LinkedHashMap<>();
        List<URI> endpoints = instance.endpoints();
        for (int i = 0; i < endpoints.size(); i++) {
            URI e = endpoints.get(i);
            String port = String.valueOf(e.getPort());
            String before = schemes.putIfAbsent(port, e.getScheme());
            if (before != null && !before.equals(e.getScheme())) {
                throw new InvalidInstanceException("endpoints[" + i + "]", "must not give port " + port
                        + " a second scheme: the '" + PROTOCOLS + "' annotation maps each container port to one "
                        + "scheme", "(was " + e + ", the port is " + before + " already)");
            }
        }
        Map<String, String> annotations = annotations(instance);
        int bytes = annotations.entrySet().stream()
                .mapToInt(a -> a.getKey().length() + a.getValue().getBytes(StandardCharsets.UTF_8).length).sum();
        if (bytes > MAX_ANNOTATIONS_BYTES) {
            throw new InvalidInstanceException("metadata", "must encode to at most 256 KiB: the API server limits a "
                    + "pod's annotations to 256 KiB in total", "(was " + bytes + " bytes)");
        }
    }

    private static void requireLabelValue(String field, String value) {
        if (!isLabelValue(value)) {
            throw new InvalidInstanceException(field, "must be a valid Kubernetes label value (at most 63 "
                    + "characters: letters, digits, '-', '_' and '.', starting and ending with a letter or digit), "
                    + "as Kratos's layout keeps it in the pod label '" + (field.equals("name") ? APP
                    : field.equals("id") ? ID : VERSION) + "'", "(was \"" + shorten(value) + "\")");
        }
    }

    /** Whether a text is a valid Kubernetes label value (the empty one included). */
    static boolean isLabelValue(String value) {
        return value.length() <= MAX_LABEL_VALUE && LABEL_VALUE.matcher(value).matches();
    }

    /**
     * Checks an instance against the pod that is to carry it: discovery (Kratos's too) builds endpoints from the pod
     * IP and the declared container ports, so an endpoint on another host or an undeclared port could not be found
     * the way it was registered.
     *
     * @throws InvalidInstanceException naming the endpoint and the rule
     */
    static void requireServable(ServiceInstance instance, Pod pod) {
        String podIp = pod.getStatus() == null ? null : pod.getStatus().getPodIP();
        Set<Integer> declared = declaredPorts(pod);
        String where = "pod " + key(pod);
        List<URI> endpoints = instance.endpoints();
        for (int i = 0; i < endpoints.size(); i++) {
            URI e = endpoints.get(i);
            if (podIp == null || podIp.isEmpty()) {
                throw new InvalidInstanceException("endpoints[" + i + "]", "cannot be checked: " + where
                        + " has no IP yet (status.podIP)", "");
            }
            if (!sameAddress(Endpoints.host(e), podIp)) {
                throw new InvalidInstanceException("endpoints[" + i + "]", "must be on the pod's IP " + podIp
                        + ": discovery builds endpoints from status.podIP of " + where, "(was " + e + ")");
            }
            if (!declared.contains(e.getPort())) {
                throw new InvalidInstanceException("endpoints[" + i + "]", "must use a containerPort declared "
                        + "in the spec of " + where + ": Go Kratos builds endpoints from declared ports only "
                        + "(declared: " + declared + ")", "(was " + e + ")");
            }
        }
    }

    private static boolean sameAddress(String host, String podIp) {
        if (host.equalsIgnoreCase(podIp)) {
            return true;
        }
        if (host.indexOf(':') < 0 || podIp.indexOf(':') < 0) {
            return false; // IPv4 literals compare as text; anything else is a host name, never resolved here
        }
        try {
            return InetAddress.getByName(host).equals(InetAddress.getByName(podIp)); // IPv6 literals: no lookup
        } catch (UnknownHostException e) {
            return false;
        }
    }

    static Map<String, String> labels(ServiceInstance instance) {
        Map<String, String> labels = new LinkedHashMap<>();
        labels.put(ID, instance.id());
        labels.put(APP, instance.name());
        labels.put(VERSION, instance.version());
        return labels;
    }

    static Map<String, String> annotations(ServiceInstance instance) {
        Map<String, String> protocols = new LinkedHashMap<>();
        for (URI e : instance.endpoints()) {
            protocols.putIfAbsent(String.valueOf(e.getPort()), e.getScheme());
        }
        Map<String, String> annotations = new LinkedHashMap<>();
        annotations.put(METADATA, instance.metadata().isEmpty() ? "null" : InstanceJson.encodeMap(instance.metadata()));
        annotations.put(PROTOCOLS, InstanceJson.encodeMap(protocols));
        return annotations;
    }

    /**
     * The registration as a JSON merge patch. Kratos sends the same body as a strategic merge patch; for label and
     * annotation maps both mean the same, and a merge patch is what every API server (and fabric8's mock) accepts.
     */
    static String registerPatch(ServiceInstance instance) {
        ObjectNode metadata = JSON.createObjectNode();
        labels(instance).forEach(metadata.putObject("labels")::put);
        annotations(instance).forEach(metadata.putObject("annotations")::put);
        ObjectNode patch = JSON.createObjectNode();
        patch.set("metadata", metadata);
        return patch.toString();
    }

    /**
     * The merge patch that removes the registration, on condition that the pod is still at {@code resourceVersion}
     * (the API server answers 409 Conflict otherwise), so that a registration written meanwhile is never removed.
     */
    static String removePatch(String resourceVersion) {
        ObjectNode metadata = JSON.createObjectNode();
        metadata.put("resourceVersion", resourceVersion);
        ObjectNode labels = metadata.putObject("labels");
        for (String label : List.of(ID, APP, VERSION)) {
            labels.putNull(label);
        }
        ObjectNode annotations = metadata.putObject("annotations");
        annotations.putNull(METADATA);
        annotations.putNull(PROTOCOLS);
        ObjectNode patch = JSON.createObjectNode();
        patch.set("metadata", metadata);
        return patch.toString();
    }

    /** Whether the pod carries exactly the labels and annotations {@link #registerPatch} writes for the instance. */
    static boolean carries(Pod pod, ServiceInstance instance) {
        Map<String, String> labels = labelsOf(pod);
        Map<String, String> annotations = annotationsOf(pod);
        return labels(instance).entrySet().stream().allMatch(e -> e.getValue().equals(labels.get(e.getKey())))
                && annotations(instance).entrySet().stream()
                .allMatch(e -> e.getValue().equals(annotations.get(e.getKey())));
    }

    /** The id of the registration the pod carries, or null. */
    static String registeredId(Pod pod) {
        String id = labelsOf(pod).get(ID);
        return id == null || id.isEmpty() ? null : id;
    }

    // ------------------------------------------------------------------------------------------------- reading

    /** Running, Ready, not terminating, and with an IP: a pod that can take traffic now. */
    static boolean isServing(Pod pod) {
        return notServing(pod) == null;
    }

    /** Why a pod cannot take traffic now, such as {@code NotReady}; null when it can ({@link #isServing}). */
    static String notServing(Pod pod) {
        if (pod.getMetadata() != null && pod.getMetadata().getDeletionTimestamp() != null) {
            return "terminating (deleted at " + pod.getMetadata().getDeletionTimestamp() + ")";
        }
        String phase = pod.getStatus() == null ? null : pod.getStatus().getPhase();
        if (!"Running".equals(phase)) {
            return "in phase " + (phase == null ? "(none)" : phase) + ", not Running";
        }
        String ip = pod.getStatus().getPodIP();
        if (ip == null || ip.isEmpty()) {
            return "Running without a pod IP";
        }
        for (PodCondition c : pod.getStatus().getConditions() == null ? List.<PodCondition>of()
                : pod.getStatus().getConditions()) {
            if ("Ready".equals(c.getType())) {
                return "True".equals(c.getStatus()) ? null : "Running but NotReady";
            }
        }
        return "Running without a Ready condition";
    }

    /** The service name a pod is registered under, or null. */
    static String serviceName(Pod pod) {
        String name = labelsOf(pod).get(APP);
        return name == null || name.isEmpty() ? null : name;
    }

    /**
     * Reads the instance a pod carries: present when the pod is registered (has a service name label), serving, and
     * well-formed; a malformed pod is logged once and skipped, never thrown at the caller (an informer thread).
     */
    static Optional<ServiceInstance> read(Pod pod) {
        String name = serviceName(pod);
        if (name == null || !isServing(pod)) {
            return Optional.empty();
        }
        Map<String, String> labels = labelsOf(pod);
        Map<String, String> annotations = annotationsOf(pod);
        try {
            Map<String, String> metadata = jsonMap(annotations.get(METADATA), METADATA);
            Map<String, String> protocols = jsonMap(annotations.get(PROTOCOLS), PROTOCOLS);
            return Optional.of(ServiceInstance.builder()
                    .id(Objects.requireNonNullElse(labels.get(ID), ""))
                    .name(name)
                    .version(Objects.requireNonNullElse(labels.get(VERSION), ""))
                    .metadata(metadata)
                    .endpoints(endpoints(pod, protocols, why -> skip(pod, why)))
                    .buildLenient());
        } catch (InvalidInstanceException e) {
            skip(pod, e.getMessage());
            return Optional.empty();
        }
    }

    /** Kratos reads these as "no entries" ({@code isEmptyObjectString}); anything else must be a JSON string map. */
    static Map<String, String> jsonMap(String text, String annotation) {
        if (text == null) {
            return Map.of();
        }
        switch (text.trim()) {
            case "":
            case "{}":
            case "null":
            case "nil":
            case "[]":
                return Map.of();
            default:
                try {
                    return InstanceJson.decodeMap(text);
                } catch (InvalidInstanceException e) {
                    throw new InvalidInstanceException(annotation, "must be a JSON object of strings: "
                            + e.getMessage(), "");
                }
        }
    }

    /**
     * The endpoints discovery builds for a pod with an IP (see the class comment).
     *
     * @param dropped told why each port that makes no usable endpoint is left out
     */
    static List<URI> endpoints(Pod pod, Map<String, String> protocols, Consumer<String> dropped) {
        String ip = pod.getStatus().getPodIP();
        Set<URI> endpoints = new LinkedHashSet<>();
        Set<String> declared = new HashSet<>();
        for (Container c : containers(pod)) {
            for (ContainerPort p : ports(c)) {
                Integer port = p.getContainerPort();
                if (port == null) {
                    continue;
                }
                declared.add(String.valueOf(port));
                String scheme = protocols.get(String.valueOf(port));
                if (scheme == null || scheme.isEmpty()) {
                    if (!protocols.isEmpty()) {
                        continue; // registered pods list their endpoints' ports; others are not this service's
                    }
                    scheme = p.getName() != null && !p.getName().isEmpty() ? p.getName().split("-", 2)[0]
                            : Objects.requireNonNullElse(p.getProtocol(), "TCP");
                }
                endpoint(scheme, ip, port, dropped).ifPresent(endpoints::add);
            }
        }
        // An annotated port that no container declares is still where the instance said it serves (a containerPort
        // declaration is informational in Kubernetes); Go Kratos does not see it.
        protocols.forEach((port, scheme) -> {
            if (!declared.contains(port)) {
                try {
                    endpoint(scheme, ip, Integer.parseInt(port), dropped).ifPresent(endpoints::add);
                } catch (NumberFormatException e) {
                    dropped.accept(PROTOCOLS + " names port '" + port + "', which is not a number; that entry is "
                            + "ignored");
                }
            }
        });
        return new ArrayList<>(endpoints);
    }

    private static Optional<URI> endpoint(String scheme, String ip, int port, Consumer<String> dropped) {
        Optional<URI> uri;
        try {
            uri = Endpoints.lenient(Endpoints.of(scheme.toLowerCase(Locale.ROOT), ip, port).toString());
        } catch (IllegalArgumentException e) {
            uri = Optional.empty();
        }
        if (uri.isEmpty()) {
            dropped.accept("port " + port + " with scheme '" + scheme + "' is not a usable endpoint; it is ignored");
        }
        return uri;
    }

    private static void skip(Pod pod, String why) {
        String uid = pod.getMetadata().getUid();
        if (LOGGED.size() > 10_000) {
            LOGGED.clear(); // bounded: at worst a bad pod is logged again
        }
        if (LOGGED.add((uid == null ? key(pod) : uid) + '\u0000' + why)) {
            LOG.warn("Kubernetes pod {}: {}", key(pod), why);
        }
    }

    // ------------------------------------------------------------------------------------------------- helpers

    /** The container ports the pod's spec declares. */
    static Set<Integer> declaredPorts(Pod pod) {
        Set<Integer> declared = new java.util.TreeSet<>();
        for (Container c : containers(pod)) {
            for (ContainerPort p : ports(c)) {
                if (p.getContainerPort() != null) {
                    declared.add(p.getContainerPort());
                }
            }
        }
        return declared;
    }

    static String key(Pod pod) {
        return pod.getMetadata().getNamespace() + "/" + pod.getMetadata().getName();
    }

    /** Labels without null values (a merge patch's null removes a label; fabric8's mock keeps it as null). */
    static Map<String, String> labelsOf(Pod pod) {
        return withoutNulls(pod.getMetadata() == null ? null : pod.getMetadata().getLabels());
    }

    static Map<String, String> annotationsOf(Pod pod) {
        return withoutNulls(pod.getMetadata() == null ? null : pod.getMetadata().getAnnotations());
    }

    private static Map<String, String> withoutNulls(Map<String, String> map) {
        if (map == null) {
            return Map.of();
        }
        if (!map.containsValue(null)) {
            return map;
        }
        Map<String, String> copy = new LinkedHashMap<>(map);
        copy.values().removeIf(Objects::isNull);
        return copy;
    }

    private static List<Container> containers(Pod pod) {
        return pod.getSpec() == null || pod.getSpec().getContainers() == null ? List.of() : pod.getSpec().getContainers();
    }

    private static List<ContainerPort> ports(Container c) {
        return c.getPorts() == null ? List.of() : c.getPorts();
    }

    private static String shorten(String s) {
        return s.length() > 80 ? s.substring(0, 80) + "..." : s;
    }
}
