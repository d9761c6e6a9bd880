using System;
using System.Globalization;
using System.Text.RegularExpressions;

namespace SvdQuant.Cli;

/// <summary>
/// Spectre's message for an option value it cannot convert names neither the option nor what it
/// takes ("Failed to convert 'abc' to Nullable`1."); this says both, from the command line itself.
/// </summary>
internal static class OptionValueErrors
{
    private static readonly Regex ConversionFailure = new(@"^Failed to convert '(?<value>.*)' to (?<type>[^.]+)\.(?<rest>.*)$", RegexOptions.Singleline);

    /// <summary>The message for <paramref name="spectreMessage"/>, or it unchanged when it is not a conversion failure of an option in <paramref name="args"/>.</summary>
    public static string Describe(string spectreMessage, string[] args)
    {
        Match match = ConversionFailure.Match(spectreMessage);
        if (!match.Success || OptionGiven(match.Groups["value"].Value, args) is not { } option)
        {
            return spectreMessage;
        }

        string value = match.Groups["value"].Value, type = match.Groups["type"].Value, rest = match.Groups["rest"].Value.Trim();
        string reason = type switch
        {
            "Int32" => "expected a whole number",
            "UInt64" => "expected a whole number, 0 or more",
            "Single" or "Double" => "expected a number",
            // The nullable options are int? and float?: a value a float? would take failed an int?.
            "Nullable`1" => double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out _) ? "expected a whole number" : "expected a number",
            _ => rest.Length > 0 ? rest : $"expected a {type}",
        };
        return $"{option} '{value}': {reason}";
    }

    // The option whose value is `value`: "--steps abc" or "--steps=abc".
    private static string? OptionGiven(string value, string[] args)
    {
        for (int i = 0; i < args.Length; i++)
        {
            if (i > 0 && args[i] == value && args[i - 1].StartsWith("-", StringComparison.Ordinal))
            {
                return args[i - 1];
            }

            int equals = args[i].IndexOf('=');
            if (args[i].StartsWith("-", StringComparison.Ordinal) && equals > 0 && args[i][(equals + 1)..] == value)
            {
                return args[i][..equals];
            }
        }

        return null;
    }
}
