using System.Security.Cryptography;
using System.Text;
using AsrService.Grpc;

namespace AsrService.Server;

/// <summary>
/// Checks the API key of a call against the configured keys: UNAUTHENTICATED without a valid one, PERMISSION_DENIED
/// when the key may not use the requested model. With no keys configured every call is let through.
/// </summary>
/// <remarks>
/// Keys are kept and compared only as SHA-256 hashes, with <see cref="CryptographicOperations.FixedTimeEquals"/>
/// against every configured key without stopping at a match: the time taken depends neither on how much of a guess
/// was right, nor on its length, nor on which key matched. Keys never appear in messages or logs; a key's
/// <see cref="ApiKeyOptions.Name"/> (or its position) does.
/// </remarks>
internal sealed class ApiKeyAuthenticator
{
    public const string AuthorizationHeader = "authorization";
    public const string ApiKeyHeader = "x-api-key";
    private const string BearerPrefix = "Bearer ";

    private readonly ApiKey[] _keys;

    public ApiKeyAuthenticator(AsrServiceOptions options)
    {
        var keys = new List<ApiKey>();
        for (var i = 0; i < options.ApiKeys.Count; i++)
        {
            keys.Add(ApiKey.From(options.ApiKeys[i], options.ApiKeys[i].DisplayName(i)));
        }

        if (options.ApiKeysFile is { } path)
        {
            foreach (var key in ApiKeyOptions.ReadFile(path))
            {
                keys.Add(ApiKey.From(key, key.DisplayName(keys.Count)));
            }
        }

        _keys = [.. keys];
    }

    /// <summary>Whether calls need a key.</summary>
    public bool Enabled => _keys.Length > 0;

    /// <summary>
    /// The key a call presents, or null when authentication is off. Throws UNAUTHENTICATED when it is on and the call
    /// has no valid key.
    /// </summary>
    public ApiKey? Authenticate(Metadata headers)
    {
        if (!Enabled)
        {
            return null;
        }

        var presented = PresentedKey(headers);
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(presented), hash);
        ApiKey? match = null;
        foreach (var key in _keys)
        {
            // No early exit: every key is compared whatever the outcome.
            if (CryptographicOperations.FixedTimeEquals(hash, key.Hash))
            {
                match ??= key;
            }
        }

        return match ?? throw Unauthenticated("the API key is not valid");
    }

    /// <summary>Throws PERMISSION_DENIED when <paramref name="key"/> may not use <paramref name="model"/>.</summary>
    public static void Authorize(ApiKey? key, string model)
    {
        if (key is null || key.Models.Count == 0 || key.Models.Contains(model))
        {
            return;
        }

        throw new RpcException(new Status(StatusCode.PermissionDenied,
            $"this API key may not use model '{model}'; it may use {string.Join(", ", key.Models.Order(StringComparer.Ordinal))}"));
    }

    private static string PresentedKey(Metadata headers)
    {
        if (headers.GetValue(AuthorizationHeader) is { } authorization)
        {
            // An authorization header that is not a bearer token is an error rather than a reason to look further:
            // a client sending Basic credentials should learn that they are not accepted.
            if (!authorization.StartsWith(BearerPrefix, StringComparison.OrdinalIgnoreCase) || authorization.Length == BearerPrefix.Length)
            {
                throw Unauthenticated("the authorization header must be 'Bearer <API key>'");
            }

            return authorization[BearerPrefix.Length..].Trim();
        }

        return headers.GetValue(ApiKeyHeader) is { Length: > 0 } apiKey
            ? apiKey.Trim()
            : throw Unauthenticated("this server requires an API key: send 'authorization: Bearer <key>' or 'x-api-key: <key>'");
    }

    private static RpcException Unauthenticated(string message) => new(new Status(StatusCode.Unauthenticated, message));

    /// <summary>A configured key: its name for logs, the hash of its secret, and the models it may use.</summary>
    internal sealed class ApiKey
    {
        private ApiKey(string name, byte[] hash, HashSet<string> models)
        {
            Name = name;
            Hash = hash;
            Models = models;
        }

        public string Name { get; }

        public byte[] Hash { get; }

        /// <summary>Models the key may use (case-insensitive); empty means all.</summary>
        public HashSet<string> Models { get; }

        public static ApiKey From(ApiKeyOptions options, string name) =>
            new(name, SHA256.HashData(Encoding.UTF8.GetBytes(options.Key)), new HashSet<string>(options.Models, StringComparer.OrdinalIgnoreCase));
    }
}
