using AsrService.Grpc.Internal;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace AsrService.Grpc;

/// <summary>Registers the gRPC transport with dependency injection.</summary>
public static class GrpcServiceCollectionExtensions
{
    /// <summary>
    /// Adds the transport: <see cref="GrpcServiceRegistry"/>, <see cref="GrpcHealthService"/> and the options
    /// (validated at start-up). Map the endpoint with <c>MapGrpcServices()</c> and register services on the registry.
    /// </summary>
    public static IServiceCollection AddGrpcTransport(this IServiceCollection services, Action<GrpcServerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = services.AddOptions<GrpcServerOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<GrpcServerOptions>, GrpcServerOptionsValidator>());
        services.AddRouting();
        services.TryAddSingleton<GrpcServiceRegistry>();
        services.TryAddSingleton<GrpcHealthService>();
        services.TryAddSingleton<GrpcCallDispatcher>();
        return services;
    }

    private sealed class GrpcServerOptionsValidator : IValidateOptions<GrpcServerOptions>
    {
        public ValidateOptionsResult Validate(string? name, GrpcServerOptions options)
        {
            var failures = options.Validate().ToList();
            return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
        }
    }
}
