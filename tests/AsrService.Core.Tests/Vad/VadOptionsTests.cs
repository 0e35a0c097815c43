using AsrService.Core.Vad;

namespace AsrService.Core.Tests.Vad;

public sealed class VadOptionsTests
{
    public static TheoryData<string, string> InvalidCases => new()
    {
        { "threshold-zero", nameof(VadOptions.Threshold) },
        { "threshold-above-one", nameof(VadOptions.Threshold) },
        { "threshold-nan", nameof(VadOptions.Threshold) },
        { "negative-threshold-above-threshold", nameof(VadOptions.NegativeThreshold) },
        { "negative-threshold-below-zero", nameof(VadOptions.NegativeThreshold) },
        { "min-speech-negative", nameof(VadOptions.MinSpeech) },
        { "min-silence-negative", nameof(VadOptions.MinSilence) },
        { "min-silence-huge", nameof(VadOptions.MinSilence) },
        { "speech-pad-negative", nameof(VadOptions.SpeechPad) },
        { "speech-pad-above-min-silence", nameof(VadOptions.SpeechPad) },
        { "max-segment-zero", nameof(VadOptions.MaxSegment) },
        { "max-segment-above-limit", nameof(VadOptions.MaxSegment) },
        { "max-segment-too-short-for-rules", nameof(VadOptions.MaxSegment) },
    };

    [Fact]
    public void Validate_Defaults_Passes()
    {
        var options = new VadOptions();

        options.Validate();

        Assert.Equal(0.5f, options.Threshold);
        Assert.Equal(0.35f, options.EffectiveNegativeThreshold, 5);
        Assert.Equal(TimeSpan.FromMilliseconds(250), options.MinSpeech);
        Assert.Equal(TimeSpan.FromMilliseconds(1000), options.MinSilence);
        Assert.Equal(TimeSpan.FromMilliseconds(800), options.SpeechPad);
        Assert.Equal(TimeSpan.FromSeconds(30), options.MaxSegment);
    }

    [Fact]
    public void CreateOffline_Defaults_LongerClosingSilenceAndValid()
    {
        var options = VadOptions.CreateOffline();

        options.Validate();

        Assert.True(options.MinSilence > new VadOptions().MinSilence);
        Assert.Equal(new VadOptions().SpeechPad, options.SpeechPad);
    }

    [Theory]
    [MemberData(nameof(InvalidCases))]
    public void Validate_OutOfRange_ThrowsNamingTheOption(string invalidCase, string option)
    {
        var options = TestVadOptions.Create();
        Apply(invalidCase, options);

        var exception = Assert.Throws<ArgumentException>(options.Validate);

        Assert.Equal(option, exception.ParamName);
        Assert.Contains($"VadOptions.{option}", exception.Message);
    }

    [Theory]
    [InlineData(0.8f, 0.65f)]
    [InlineData(0.2f, 0.1f)]
    [InlineData(0.1f, 0.05f)]
    public void EffectiveNegativeThreshold_Unset_FollowsThresholdAndStaysPositive(float threshold, float expected)
    {
        var options = new VadOptions { Threshold = threshold };

        options.Validate();

        Assert.Equal(expected, options.EffectiveNegativeThreshold, 5);
    }

    [Fact]
    public void EffectiveNegativeThreshold_Set_IsTheSetValue()
    {
        var options = new VadOptions { Threshold = 0.6f, NegativeThreshold = 0.6f };

        options.Validate();

        Assert.Equal(0.6f, options.EffectiveNegativeThreshold);
    }

    [Fact]
    public void Validate_SmallestConsistentMaxSegment_Passes()
    {
        // Exactly twice SpeechPad + MinSpeech + MinSilence.
        var options = TestVadOptions.Create(o => o.MaxSegment = TimeSpan.FromMilliseconds(1900));

        options.Validate();
    }

    private static void Apply(string invalidCase, VadOptions options)
    {
        switch (invalidCase)
        {
            case "threshold-zero":
                options.Threshold = 0f;
                break;
            case "threshold-above-one":
                options.Threshold = 1.01f;
                break;
            case "threshold-nan":
                options.Threshold = float.NaN;
                break;
            case "negative-threshold-above-threshold":
                options.NegativeThreshold = 0.51f;
                break;
            case "negative-threshold-below-zero":
                options.NegativeThreshold = -0.1f;
                break;
            case "min-speech-negative":
                options.MinSpeech = TimeSpan.FromMilliseconds(-1);
                break;
            case "min-silence-negative":
                options.MinSilence = TimeSpan.FromMilliseconds(-1);
                break;
            case "min-silence-huge":
                options.MinSilence = TimeSpan.MaxValue;
                break;
            case "speech-pad-negative":
                options.SpeechPad = TimeSpan.FromMilliseconds(-1);
                break;
            case "speech-pad-above-min-silence":
                options.SpeechPad = TimeSpan.FromMilliseconds(501);
                break;
            case "max-segment-zero":
                options.MaxSegment = TimeSpan.Zero;
                break;
            case "max-segment-above-limit":
                options.MaxSegment = TimeSpan.FromMinutes(11);
                break;
            case "max-segment-too-short-for-rules":
                options.MaxSegment = TimeSpan.FromMilliseconds(1899);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(invalidCase), invalidCase, "Unknown case.");
        }
    }
}
