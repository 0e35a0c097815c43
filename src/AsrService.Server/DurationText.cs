using System.Globalization;

namespace AsrService.Server;

/// <summary>Durations as status messages and logs show them: "30 s", "1.5 s", "5 min", "1 h".</summary>
internal static class DurationText
{
    public static string Format(TimeSpan value)
    {
        if (value >= TimeSpan.FromHours(1) && value.Ticks % TimeSpan.TicksPerHour == 0)
        {
            return string.Create(CultureInfo.InvariantCulture, $"{value.TotalHours:0} h");
        }

        if (value >= TimeSpan.FromMinutes(2) && value.Ticks % TimeSpan.TicksPerMinute == 0)
        {
            return string.Create(CultureInfo.InvariantCulture, $"{value.TotalMinutes:0} min");
        }

        return string.Create(CultureInfo.InvariantCulture, $"{value.TotalSeconds:0.###} s");
    }
}
