namespace AsrService.Grpc.Internal;

/// <summary>Binary metadata is base64; gRPC peers may leave out the padding, which Convert does not accept.</summary>
internal static class Base64
{
    public static byte[] DecodeLenient(string value)
    {
        var trimmed = value.Trim();
        var padding = (4 - (trimmed.Length % 4)) % 4;
        return Convert.FromBase64String(padding == 0 ? trimmed : trimmed + new string('=', padding));
    }
}
