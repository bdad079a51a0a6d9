package io.roster.servicecomb;

import io.roster.InvalidOptionException;
import io.roster.Registry;
import io.roster.spi.Options;
import io.roster.spi.RegistryProvider;
import io.roster.spi.RegistryUri;

import java.nio.file.Path;

/**
 * Serves {@code servicecomb://[user:password@]host[:port][,host:port...][?option=value&...]}: a
 * {@link ServiceCombRegistry} on the service-center at those addresses (default {@code 127.0.0.1:30100}). User and
 * password, when given, log in to service-center's RBAC. Options, each as in {@link ServiceCombRegistry.Builder}:
 *
 * <table>
 *   <caption>servicecomb URI options</caption>
 *   <tr><td>{@code app}</td><td>the microservices' appId, default {@code default}</td></tr>
 *   <tr><td>{@code environment}</td><td>empty (default), development, testing, acceptance or production</td></tr>
 *   <tr><td>{@code project}</td><td>service-center project, default {@code default}</td></tr>
 *   <tr><td>{@code domain}</td><td>tenant domain ({@code X-Domain-Name}), default {@code default}</td></tr>
 *   <tr><td>{@code heartbeat}</td><td>heartbeat interval in whole seconds, default {@code 30s}</td></tr>
 *   <tr><td>{@code times}</td><td>heartbeats that may be missed, default 3 (TTL = heartbeat × (times + 1))</td></tr>
 *   <tr><td>{@code timeout}</td><td>request timeout, default {@code 5s}</td></tr>
 *   <tr><td>{@code refresh}</td><td>re-read of watched services, default {@code 15s}</td></tr>
 *   <tr><td>{@code consumer}</td><td>name of the watching consumer microservice, default {@code roster-consumer}</td></tr>
 *   <tr><td>{@code token}</td><td>an RBAC token issued beforehand (never shown)</td></tr>
 *   <tr><td>{@code tls}, {@code caFile}</td><td>HTTPS and WSS, CA bundle (PEM)</td></tr>
 * </table>
 *
 * <p>Example: {@code servicecomb://127.0.0.1:30100?app=shop&environment=production&project=default}.
 */
public final class ServiceCombRegistryProvider implements RegistryProvider {

    /** Creates the provider; called by {@link java.util.ServiceLoader}. */
    public ServiceCombRegistryProvider() {
    }

    @Override
    public String scheme() {
        return "servicecomb";
    }

    @Override
    public Registry open(RegistryUri uri) {
        return builder(uri).build();
    }

    /** Reads the URI into a builder; every option is checked, nothing is opened. */
    static ServiceCombRegistry.Builder builder(RegistryUri uri) {
        if (!uri.path().isEmpty() && !uri.path().equals("/")) {
            throw new InvalidOptionException("path", "servicecomb URI takes no path (the project is ?project=...), "
                    + "was " + uri);
        }
        Options o = uri.options();
        ServiceCombRegistry.Builder b = ServiceCombRegistry.builder();
        if (!uri.hosts().isEmpty()) {
            b.addresses(uri.hosts());
        }
        if (uri.user().isPresent()) {
            b.credentials(uri.user().get(), uri.password().orElse(""));
        }
        o.string("app").ifPresent(b::app);
        o.string("environment").ifPresent(b::environment);
        o.string("project").ifPresent(b::project);
        o.string("domain").ifPresent(b::domain);
        o.duration("heartbeat").ifPresent(b::heartbeat);
        b.times(o.integer("times", 3));
        o.duration("timeout").ifPresent(b::timeout);
        o.duration("refresh").ifPresent(b::refresh);
        o.string("consumer").ifPresent(b::consumer);
        o.secret("token").ifPresent(b::token);
        if (o.string("tls").isPresent()) {
            b.tls(o.bool("tls", false));
        }
        o.string("caFile").ifPresent(f -> b.caFile(Path.of(f)));
        o.requireAllKnown();
        return b;
    }
}
