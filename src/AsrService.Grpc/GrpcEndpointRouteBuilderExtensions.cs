using AsrService.Grpc.Internal;
using AsrService.Grpc.Reflection;
using Grpc.Health.V1;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AsrService.Grpc;

/// <summary>Maps the gRPC endpoint into an ASP.NET Core application.</summary>
public static class GrpcEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Routes every <c>/{service}/{method}</c> request to the registered gRPC handlers (unknown methods answer
    /// UNIMPLEMENTED), binds the health and reflection services if enabled, and returns the registry so that services
    /// can be added: <c>Asr.BindService(app.MapGrpcServices(), impl)</c>. Needs <c>AddGrpcTransport()</c>.
    /// </summary>
    public static GrpcServiceRegistry MapGrpcServices(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var services = endpoints.ServiceProvider;
        var registry = services.GetService<GrpcServiceRegistry>()
            ?? throw new InvalidOperationException("Call services.AddGrpcTransport() before MapGrpcServices().");
        var options = services.GetRequiredService<IOptions<GrpcServerOptions>>().Value;

        if (options.EnableHealthService && !registry.Contains(Health.CheckMethod))
        {
            Health.BindService(registry, services.GetRequiredService<GrpcHealthService>());
        }

        if (options.EnableReflection && !registry.Contains(ServerReflectionService.InfoMethod))
        {
            ServerReflectionService.Bind(registry);
        }

        var dispatcher = services.GetRequiredService<GrpcCallDispatcher>();
        // Literal routes of the host (e.g. /healthz) still win over this two-parameter pattern.
        endpoints.Map("/{service}/{method}", dispatcher.HandleAsync).WithDisplayName("gRPC");
        return registry;
    }
}
