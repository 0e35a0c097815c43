using AsrService.Core.Recognition;

namespace AsrService.Core.Tests.Recognition;

public sealed class InferenceOptionsTests
{
    [Theory]
    [InlineData(-0.5)]
    [InlineData(InferenceOptions.MaxInterimEncoderWindowSeconds + 1)]
    [InlineData(double.NaN)]
    public void InterimEncoderWindow_OutOfRange_FailsValidationNamingIt(double seconds)
    {
        var error = Assert.Throws<ArgumentException>(() => new InferenceOptions { InterimEncoderWindowSeconds = seconds }.Validate());

        Assert.Contains("interim encoder window", error.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(InferenceOptions.DefaultInterimEncoderWindowSeconds)]
    [InlineData(InferenceOptions.MaxInterimEncoderWindowSeconds)]
    public void InterimEncoderWindow_InRange_Validates(double seconds) =>
        new InferenceOptions { InterimEncoderWindowSeconds = seconds }.Validate();
}
