package io.roster;

/**
 * The registry was used after {@link Registry#close()}.
 */
public class RegistryClosedException extends RegistryException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message which registry was closed
     */
    public RegistryClosedException(String message) {
        super(message);
    }
}
