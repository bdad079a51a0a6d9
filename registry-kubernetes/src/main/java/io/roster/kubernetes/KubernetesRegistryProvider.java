package io.roster.kubernetes;

import io.roster.InvalidOptionException;
import io.roster.Registry;
import io.roster.spi.Options;
import io.roster.spi.RegistryProvider;
import io.roster.spi.RegistryUri;

import java.time.Duration;
import java.util.Locale;

/**
 * Serves {@code kubernetes:} URIs with a {@link KubernetesRegistry}:
 *
 * <pre>
 * kubernetes:///                                  in a pod: its namespace, its service account
 * kubernetes://?namespace=shop                    a namespace; outside a cluster through ~/.kube/config
 * kubernetes://?namespace=shop&amp;mode=service      Services by name, from their EndpointSlices (read-only)
 * kubernetes://?allNamespaces=true                discovery across every namespace
 * </pre>
 *
 * <p>The API server and the credentials come from the client's usual configuration (the pod's service account inside
 * a cluster; {@code ~/.kube/config} or {@code KUBECONFIG} and the {@code KUBERNETES_*} variables outside), so the URI
 * has no host. Options:
 *
 * <ul>
 *   <li>{@code namespace}: where the pod is registered and discovery looks; default the service account's namespace,
 *       else the kubeconfig context's;</li>
 *   <li>{@code allNamespaces}: {@code true} to discover across all namespaces (registration stays in the pod's);</li>
 *   <li>{@code mode}: {@code pod} (default: Kratos's pod labels, registration allowed) or {@code service}
 *       (Kubernetes Services from their EndpointSlices, read-only);</li>
 *   <li>{@code pod}: the name of the pod this process runs in; default {@code POD_NAME}, else {@code HOSTNAME};</li>
 *   <li>{@code context}: a kubeconfig context other than the current one;</li>
 *   <li>{@code timeout}: the first list of a watch, and each request; default {@code 10s}.</li>
 * </ul>
 *
 * <p>Unknown options and bad values fail naming the option.
 */
public final class KubernetesRegistryProvider implements RegistryProvider {

    /** Creates the provider; called by {@link java.util.ServiceLoader}. */
    public KubernetesRegistryProvider() {
    }

    @Override
    public String scheme() {
        return "kubernetes";
    }

    @Override
    public Registry open(RegistryUri uri) {
        if (!uri.hosts().isEmpty() || uri.user().isPresent()) {
            throw new InvalidOptionException("hosts", "kubernetes URIs take no host: the API server and credentials "
                    + "come from the client's configuration (the service account in a pod, ~/.kube/config outside, "
                    + "KUBERNETES_MASTER); write kubernetes:///?namespace=..., was " + uri);
        }
        if (!uri.path().isEmpty() && !uri.path().equals("/")) {
            throw new InvalidOptionException("path", "kubernetes URIs take no path; use the option 'namespace', was "
                    + uri);
        }
        Options options = uri.options();
        KubernetesRegistry.Builder builder = KubernetesRegistry.builder();
        options.string("namespace").ifPresent(builder::namespace);
        builder.allNamespaces(options.bool("allNamespaces", false));
        String mode = options.string("mode", "pod").trim().toLowerCase(Locale.ROOT);
        switch (mode) {
            case "pod":
                builder.mode(KubernetesRegistry.Mode.POD);
                break;
            case "service":
                builder.mode(KubernetesRegistry.Mode.SERVICE);
                break;
            default:
                throw options.bad("mode", "must be 'pod' or 'service', was '" + mode + "'");
        }
        options.string("pod").ifPresent(builder::podName);
        options.string("context").ifPresent(builder::context);
        builder.timeout(options.duration("timeout", Duration.ofSeconds(10)));
        options.requireAllKnown();
        return builder.build();
    }
}
