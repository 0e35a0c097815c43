namespace AsrService.Fuzz.Tests.Infrastructure;

/// <summary>A property of the output does not hold (thrown inside a case; the runner adds the seed and index).</summary>
internal sealed class FuzzPropertyException : Exception
{
    public FuzzPropertyException(string message)
        : base(message)
    {
    }
}
