package io.roster.eureka;

import io.roster.testkit.NullArguments;
import org.junit.jupiter.api.Test;

class EurekaBuilderNullsTest {

    @Test
    void everyNullBuilderArgumentIsRefusedNamingTheOption() {
        NullArguments.assertRefusedByEverySetter(EurekaRegistry::builder);
    }
}
