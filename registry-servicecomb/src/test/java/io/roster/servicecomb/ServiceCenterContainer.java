package io.roster.servicecomb;

import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.wait.strategy.Wait;
import org.testcontainers.utility.DockerImageName;

/**
 * A real service-center from its official image, with its embedded etcd, as the project's quick start runs it
 * ({@code docker run -p 30100:30100 servicecomb/service-center}).
 */
final class ServiceCenterContainer extends GenericContainer<ServiceCenterContainer> {
    static final DockerImageName IMAGE = DockerImageName.parse("servicecomb/service-center:latest");

    ServiceCenterContainer() {
        super(IMAGE);
        withExposedPorts(30100);
        waitingFor(Wait.forHttp("/v4/default/registry/version").forPort(30100).forStatusCode(200));
    }

    String address() {
        return getHost() + ":" + getMappedPort(30100);
    }
}
