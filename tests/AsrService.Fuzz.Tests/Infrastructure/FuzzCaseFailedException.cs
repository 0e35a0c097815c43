namespace AsrService.Fuzz.Tests.Infrastructure;

/// <summary>A fuzz case broke a property; the message names the seed and the case index that reproduce it.</summary>
internal sealed class FuzzCaseFailedException : Exception
{
    public FuzzCaseFailedException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}
