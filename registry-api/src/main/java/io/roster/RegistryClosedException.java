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

    /**
     * Creates the exception for a call that failed because the registry was closed while it ran.
     *
     * @param message which registry was closed
     * @param cause what the call ran into
     */
    public RegistryClosedException(String message, Throwable cause) {
        super(message, cause);
    }
}
