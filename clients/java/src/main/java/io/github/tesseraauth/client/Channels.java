package io.github.tesseraauth.client;

import io.grpc.Attributes;
import io.grpc.ChannelCredentials;
import io.grpc.EquivalentAddressGroup;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.NameResolver;
import io.grpc.TlsChannelCredentials;
import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Builds the one gRPC channel a client (and every copy of it) uses. */
final class Channels {
  private Channels() {}

  /**
   * Calls that are safe to repeat and so retried on UNAVAILABLE (on the next replica when one
   * died). Login, Unlock, IssueToken and Introspect (which may consume a use) are not: gRPC
   * re-sends them only when they surely never left the client.
   */
  static final List<String[]> RETRIED =
      List.of(
          new String[] {"tessera.v1.AuthService", "Revoke"},
          new String[] {"tessera.v1.AuthService", "CheckNamespace"},
          new String[] {"tessera.v1.AuthService", "GetJwks"},
          new String[] {"tessera.v1.AuthService", "AcknowledgeRevocations"},
          new String[] {"tessera.v1.AdminService", "ListUsers"},
          new String[] {"tessera.v1.AdminService", "SetUserDisabled"},
          new String[] {"tessera.v1.AdminService", "SetRole"},
          new String[] {"tessera.v1.AdminService", "RemoveTotp"},
          new String[] {"tessera.v1.AdminService", "ListTokens"},
          new String[] {"tessera.v1.AdminService", "GetToken"},
          new String[] {"tessera.v1.AdminService", "ListAuditEvents"});

  /** One connection at a time (pick_first walks the addresses in order) and the retry policy. */
  static Map<String, Object> serviceConfig() {
    List<Object> names = new ArrayList<>();
    for (String[] m : RETRIED) {
      names.add(Map.of("service", m[0], "method", m[1]));
    }
    Map<String, Object> retry =
        Map.of(
            "maxAttempts",
            4.0,
            "initialBackoff",
            "0.05s",
            "maxBackoff",
            "1s",
            "backoffMultiplier",
            2.0,
            "retryableStatusCodes",
            List.of("UNAVAILABLE"));
    return Map.of(
        "loadBalancingConfig", List.of(Map.of("pick_first", Map.of())),
        "methodConfig", List.of(Map.of("name", names, "retryPolicy", retry)));
  }

  static ChannelCredentials credentials(
      boolean tls, String caFile, String certFile, String keyFile) {
    if (!tls) {
      return InsecureChannelCredentials.create();
    }
    TlsChannelCredentials.Builder builder = TlsChannelCredentials.newBuilder();
    try {
      if (caFile != null) {
        builder.trustManager(new File(caFile));
      }
      if (certFile != null) {
        builder.keyManager(new File(certFile), new File(keyFile));
      }
    } catch (IOException | IllegalArgumentException e) {
      throw TesseraException.refused(
          Reason.INVALID_ARGUMENT, "tls", "reading the TLS files: " + e.getMessage());
    }
    return builder.build();
  }

  @SuppressWarnings(
      "deprecation") // nameResolverFactory: the plain way to hand a channel a fixed list
  static ManagedChannel open(List<ServerAddress> addresses, ChannelCredentials credentials) {
    ManagedChannelBuilder<?> builder;
    if (addresses.size() == 1) {
      builder = Grpc.newChannelBuilder(addresses.get(0).authority(), credentials);
    } else {
      builder =
          Grpc.newChannelBuilder(
                  Replicas.SCHEME + ":///" + addresses.get(0).authority(), credentials)
              .nameResolverFactory(new Replicas(addresses));
    }
    return builder.defaultServiceConfig(serviceConfig()).enableRetry().build();
  }

  /** A fixed list of replicas, in order of preference; each checked against its own host name. */
  static final class Replicas extends NameResolver.Factory {
    static final String SCHEME = "tessera-replicas";
    private final List<ServerAddress> addresses;

    Replicas(List<ServerAddress> addresses) {
      this.addresses = List.copyOf(addresses);
    }

    @Override
    public NameResolver newNameResolver(URI target, NameResolver.Args args) {
      if (!SCHEME.equals(target.getScheme())) {
        return null;
      }
      List<EquivalentAddressGroup> groups = new ArrayList<>();
      for (ServerAddress a : addresses) {
        groups.add(
            new EquivalentAddressGroup(
                new InetSocketAddress(a.host(), a.port()),
                Attributes.newBuilder()
                    .set(EquivalentAddressGroup.ATTR_AUTHORITY_OVERRIDE, a.authority())
                    .build()));
      }
      String authority = addresses.get(0).authority();
      return new NameResolver() {
        @Override
        public String getServiceAuthority() {
          return authority;
        }

        @Override
        public void start(Listener2 listener) {
          listener.onResult(
              ResolutionResult.newBuilder()
                  .setAddressesOrError(io.grpc.StatusOr.fromValue(groups))
                  .build());
        }

        @Override
        public void shutdown() {}
      };
    }

    @Override
    public String getDefaultScheme() {
      return SCHEME;
    }
  }
}
