package io.roster.kubernetes;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.discovery.v1.Endpoint;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointPort;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.roster.InvalidInstanceException;
import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.spi.Inspection;
import io.roster.spi.Inspector;
import io.roster.spi.RegistryUri;

import java.net.URI;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;

/**
 * Reads a {@code kubernetes:} registry as stored, through the registry's own client.
 *
 * <p>Pod mode: every pod carrying the label {@code kratos-service-app} (or that label with the service's name), at
 * {@code <namespace>/<pod>}. Kratos's layout: labels {@code kratos-service-id}, {@code -app}, {@code -version}, which
 * must be label values; annotations {@code kratos-service-metadata} and {@code kratos-service-protocols}, JSON maps of
 * strings, the latter naming declared container ports; the pod Running and Ready. A pod whose Kratos labels are all
 * empty was deregistered by Kratos (it blanks them) and is no record.
 *
 * <p>Service mode: every EndpointSlice of a Service (or of the one asked for), one record per endpoint at
 * {@code <namespace>/<slice>/<address>}, ready or not; its ports must be named (the name gives the scheme), and each
 * Service needs a ready endpoint.
 */
public final class KubernetesInspector implements Inspector {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** What Go Kratos clients dial; anything else they skip. */
    private static final Set<String> KRATOS_SCHEMES = Set.of("grpc", "grpcs", "http", "https");

    /** Creates the inspector; called by {@link java.util.ServiceLoader}. */
    public KubernetesInspector() {
    }

    @Override
    public String scheme() {
        return "kubernetes";
    }

    @Override
    public Optional<String> timeoutOption() {
        return Optional.of("timeout");
    }

    @Override
    public Inspection inspect(Registry registry, RegistryUri uri, String service) {
        if (!(registry instanceof KubernetesRegistry)) {
            return Inspection.generic(registry, service, "not a KubernetesRegistry", (done, total) -> { });
        }
        KubernetesRegistry kubernetes = (KubernetesRegistry) registry;
        if (service != null && !PodLayout.isLabelValue(service)) {
            return Inspection.builder("pods and EndpointSlices in " + kubernetes.scope()).note("'" + service + "' is "
                    + "not a label value: no pod or EndpointSlice can be labelled with it").build();
        }
        if (kubernetes.mode() == KubernetesRegistry.Mode.SERVICE) {
            Inspection.Builder builder = Inspection.builder("EndpointSlices of the Services in " + kubernetes.scope()
                    + " (namespace/slice/address)");
            Map<String, Service> services = new HashMap<>();
            for (Service s : kubernetes.rawServices(service)) {
                services.put(s.getMetadata().getNamespace() + "/" + s.getMetadata().getName(), s);
            }
            checkSlices(builder, kubernetes.rawSlices(service), services, service != null);
            return builder.build();
        }
        Inspection.Builder builder = Inspection.builder("pods labelled " + PodLayout.APP + " in " + kubernetes.scope()
                + " (namespace/pod)");
        for (Pod pod : kubernetes.rawPods(service)) {
            checkPod(builder, pod);
        }
        return builder.build();
    }

    // ------------------------------------------------------------------------------------------------- pods

    /** Checks one pod that carries the service label. */
    static void checkPod(Inspection.Builder builder, Pod pod) {
        String location = PodLayout.key(pod);
        Map<String, String> labels = PodLayout.labelsOf(pod);
        Map<String, String> annotations = PodLayout.annotationsOf(pod);
        String name = labels.getOrDefault(PodLayout.APP, "");
        String id = labels.getOrDefault(PodLayout.ID, "");
        String version = labels.getOrDefault(PodLayout.VERSION, "");
        if (name.isEmpty() && id.isEmpty() && version.isEmpty()) {
            return; // Kratos's deregistration blanks the labels: no registration here
        }
        String text = text(pod, labels, annotations);
        if (!builder.serviceName(location, name)) {
            builder.record(location, name, text, null);
            return;
        }
        List<String> unreadable = new ArrayList<>();
        labelValue(builder, location, PodLayout.APP, name);
        if (id.isEmpty()) {
            unreadable.add("it has no " + PodLayout.ID + " label, so it has no instance id");
        }
        labelValue(builder, location, PodLayout.ID, id);
        labelValue(builder, location, PodLayout.VERSION, version);
        Map<String, String> metadata = annotation(annotations, PodLayout.METADATA, unreadable);
        Map<String, String> protocols = annotation(annotations, PodLayout.PROTOCOLS, unreadable);
        if (!unreadable.isEmpty()) {
            builder.record(location, name, text, null).problem(location, Inspection.Kind.NOT_DECODABLE,
                    "readers skip the pod: " + String.join("; ", unreadable));
            return;
        }
        Set<Integer> declared = PodLayout.declaredPorts(pod);
        protocols.forEach((port, scheme) -> {
            if (port.matches("\\d{1,5}") && !declared.contains(Integer.parseInt(port))) {
                builder.problem(location, Inspection.Kind.BAD_ENDPOINT, PodLayout.PROTOCOLS + " names port " + port
                        + " (" + scheme + "), which no container declares: Go Kratos builds endpoints from declared "
                        + "container ports only and does not see it (declared: " + declared + ")");
            }
        });
        String why = PodLayout.notServing(pod);
        if (why != null) {
            builder.problem(location, Inspection.Kind.UNHEALTHY, "the pod is " + why + ": readers list Running, Ready "
                    + "pods only, so it is not served");
        }
        String ip = pod.getStatus() == null ? null : pod.getStatus().getPodIP();
        List<URI> endpoints = ip == null || ip.isEmpty() ? List.of() : PodLayout.endpoints(pod, protocols,
                dropped -> builder.problem(location, Inspection.Kind.BAD_ENDPOINT, dropped));
        try {
            builder.instance(location, name, text, ServiceInstance.builder().id(id).name(name).version(version)
                    .metadata(metadata).endpoints(endpoints).buildLenient());
        } catch (InvalidInstanceException e) {
            builder.record(location, name, text, null).problem(location, Inspection.Kind.NOT_DECODABLE,
                    "the pod does not make an instance: " + RegistryUri.redact(e.getMessage()));
        }
    }

    /** A label the API server would not have written: stored by something that skips its validation. */
    private static void labelValue(Inspection.Builder builder, String location, String label, String value) {
        if (!PodLayout.isLabelValue(value)) {
            builder.problem(location, label.equals(PodLayout.APP) ? Inspection.Kind.MALFORMED_SERVICE_NAME
                    : Inspection.Kind.NOT_DECODABLE, "label " + label + "='" + value + "' is not a valid label value "
                    + "(at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit): the "
                    + "API server refuses it, so neither Kratos nor Roster can have written it");
        }
    }

    /** One of Kratos's JSON annotations, read as Kratos reads it; what is wrong goes in {@code unreadable}. */
    private static Map<String, String> annotation(Map<String, String> annotations, String key,
                                                  List<String> unreadable) {
        try {
            return PodLayout.jsonMap(annotations.get(key), key);
        } catch (InvalidInstanceException e) {
            String value = annotations.get(key);
            unreadable.add("annotation " + key + " is not a JSON object of strings ('"
                    + (value.length() > 80 ? value.substring(0, 80) + "..." : value) + "')");
            return Map.of();
        }
    }

    /** The part of a pod that makes its registration: Kratos's labels and annotations, state, IP, ports. */
    private static String text(Pod pod, Map<String, String> labels, Map<String, String> annotations) {
        ObjectNode node = JSON.createObjectNode();
        ObjectNode l = node.putObject("labels");
        for (String key : List.of(PodLayout.APP, PodLayout.ID, PodLayout.VERSION)) {
            if (labels.containsKey(key)) {
                l.put(key, labels.get(key));
            }
        }
        ObjectNode a = node.putObject("annotations");
        for (String key : List.of(PodLayout.METADATA, PodLayout.PROTOCOLS)) {
            if (annotations.containsKey(key)) {
                a.put(key, annotations.get(key));
            }
        }
        if (pod.getStatus() != null) {
            node.put("phase", pod.getStatus().getPhase());
            for (PodCondition c : Objects.requireNonNullElse(pod.getStatus().getConditions(),
                    List.<PodCondition>of())) {
                if ("Ready".equals(c.getType())) {
                    node.put("ready", c.getStatus());
                }
            }
            node.put("podIP", pod.getStatus().getPodIP());
        }
        if (pod.getMetadata().getDeletionTimestamp() != null) {
            node.put("deletionTimestamp", pod.getMetadata().getDeletionTimestamp());
        }
        ArrayNode ports = node.putArray("ports");
        for (Container c : pod.getSpec() == null ? List.<Container>of()
                : Objects.requireNonNullElse(pod.getSpec().getContainers(), List.<Container>of())) {
            for (ContainerPort p : Objects.requireNonNullElse(c.getPorts(), List.<ContainerPort>of())) {
                ObjectNode port = ports.addObject();
                if (p.getName() != null) {
                    port.put("name", p.getName());
                }
                port.put("containerPort", p.getContainerPort());
            }
        }
        return node.toString();
    }

    // ------------------------------------------------------------------------------------------------- slices

    /**
     * Checks the slices of every Service among them.
     *
     * @param services the Services by {@code namespace/name}, for their labels
     * @param asked whether one Service was asked for: then a Service without any slice is named too (across a
     *     namespace, Services without a selector have none, and are no one's instances)
     */
    static void checkSlices(Inspection.Builder builder, List<EndpointSlice> slices, Map<String, Service> services,
                            boolean asked) {
        Map<String, List<EndpointSlice>> byService = new TreeMap<>();
        for (EndpointSlice slice : slices) {
            String name = Objects.requireNonNullElse(EndpointSlices.serviceName(slice), "");
            byService.computeIfAbsent(slice.getMetadata().getNamespace() + "/" + name, k -> new ArrayList<>())
                    .add(slice);
        }
        if (asked) {
            services.keySet().forEach(key -> byService.putIfAbsent(key, List.of()));
        }
        byService.forEach((serviceKey, ofService) -> {
            String name = serviceKey.substring(serviceKey.indexOf('/') + 1);
            if (!builder.serviceName(serviceKey, name)) {
                return;
            }
            boolean ready = false;
            for (EndpointSlice slice : ofService) {
                ready |= checkSlice(builder, slice, services.get(serviceKey), name);
            }
            if (!ready) {
                builder.problem(serviceKey, Inspection.Kind.NO_ENDPOINT, "no EndpointSlice of Service " + serviceKey
                        + " has a ready endpoint with a port: readers find no instance");
            }
        });
    }

    /** Checks one slice; tells whether it has a ready endpoint with a port. */
    private static boolean checkSlice(Inspection.Builder builder, EndpointSlice slice, Service service, String name) {
        String sliceKey = EndpointSlices.key(slice);
        List<EndpointPort> ports = Objects.requireNonNullElse(slice.getPorts(), List.of());
        for (EndpointPort port : ports) {
            String shown = port.getPort() == null ? "(all ports)" : String.valueOf(port.getPort());
            if (port.getPort() == null) {
                builder.problem(sliceKey, Inspection.Kind.BAD_ENDPOINT, "port " + shown + " has no number: readers "
                        + "have nothing to connect to");
            } else if (port.getName() == null || port.getName().isEmpty()) {
                String scheme = EndpointSlices.scheme(port);
                builder.problem(sliceKey, Inspection.Kind.BAD_ENDPOINT, "port " + shown + " has no name, so its "
                        + "scheme is " + scheme + (KRATOS_SCHEMES.contains(scheme) ? " (from its appProtocol)"
                        : ", which gRPC and HTTP clients do not pick") + "; name it grpc-..., http-... on the Service");
            }
        }
        boolean ready = false;
        for (Endpoint endpoint : Objects.requireNonNullElse(slice.getEndpoints(), List.<Endpoint>of())) {
            if (endpoint.getAddresses() == null || endpoint.getAddresses().isEmpty()) {
                builder.problem(sliceKey, Inspection.Kind.NO_ENDPOINT, "an endpoint has no address");
                continue;
            }
            String location = sliceKey + "/" + endpoint.getAddresses().get(0);
            String text = endpointText(endpoint);
            Optional<ServiceInstance> instance = EndpointSlices.instance(slice, endpoint, service, name,
                    dropped -> builder.problem(location, Inspection.Kind.BAD_ENDPOINT, dropped));
            if (instance.isPresent()) {
                builder.instance(location, name, text, instance.get());
            } else {
                builder.record(location, name, text, null).problem(location, Inspection.Kind.NO_ENDPOINT,
                        "no port of the slice makes an endpoint at " + endpoint.getAddresses().get(0));
            }
            if (!EndpointSlices.isReady(endpoint)) {
                boolean terminating = endpoint.getConditions() != null
                        && Boolean.TRUE.equals(endpoint.getConditions().getTerminating());
                builder.problem(location, Inspection.Kind.UNHEALTHY, "the endpoint is " + (terminating
                        ? "terminating" : "not ready") + ": readers list ready endpoints only");
            } else if (instance.isPresent()) {
                ready = true;
            }
        }
        return ready;
    }

    private static String endpointText(Endpoint endpoint) {
        Map<String, Object> shown = new LinkedHashMap<>();
        shown.put("addresses", endpoint.getAddresses());
        if (endpoint.getConditions() != null) {
            Map<String, Object> conditions = new LinkedHashMap<>();
            conditions.put("ready", endpoint.getConditions().getReady());
            conditions.put("serving", endpoint.getConditions().getServing());
            conditions.put("terminating", endpoint.getConditions().getTerminating());
            shown.put("conditions", conditions);
        }
        if (endpoint.getTargetRef() != null) {
            shown.put("targetRef", endpoint.getTargetRef().getKind() + "/" + endpoint.getTargetRef().getName());
        }
        return JSON.valueToTree(shown).toString();
    }
}
