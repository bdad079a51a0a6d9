package io.roster.select;

import io.roster.RegistryException;

/**
 * {@link Selector#select()} found no instance to choose: none listed yet, none with an endpoint of the selector's
 * scheme, or none left after the filters. The message names the service, the scheme and the filters, and says
 * how many instances each step left.
 */
public class NoAvailableInstanceException extends RegistryException {
    private static final long serialVersionUID = 1L;

    private final String service;
    private final String scheme;

    /**
     * Creates the exception.
     *
     * @param service the service selected from
     * @param scheme the endpoint scheme required
     * @param message what was missing
     */
    public NoAvailableInstanceException(String service, String scheme, String message) {
        super(message);
        this.service = service;
        this.scheme = scheme;
    }

    /**
     * Returns the service.
     *
     * @return the name of the service that had no instance to offer
     */
    public String service() {
        return service;
    }

    /**
     * Returns the scheme.
     *
     * @return the endpoint scheme the selector required
     */
    public String scheme() {
        return scheme;
    }
}
