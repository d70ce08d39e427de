using System.CommandLine;
using SharpCnn.Cli;

namespace SharpCnn.Tests;

/// <summary>The README stays true: its library example is the sample that CI runs, and its CLI reference covers every command and option.</summary>
public class ReadmeTests
{
    private static string RepositoryFile(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "SharpCnn.slnx")))
                return Path.Combine(dir.FullName, relative);
        throw new DirectoryNotFoundException($"no SharpCnn.slnx above {AppContext.BaseDirectory}");
    }

    private static string Readme => File.ReadAllText(RepositoryFile("README.md")).ReplaceLineEndings("\n");

    [Fact]
    public void TheReadmeOpensWithTheTwoCommands()
    {
        string[] lines = Readme.Split('\n');
        int fence = Array.IndexOf(lines, "```bash");
        Assert.InRange(fence, 1, 5);
        Assert.StartsWith("dotnet run -c Release --project src/SharpCnn.Cli -- train", lines[fence + 1]);
        Assert.StartsWith("bash scripts/install-test-tools.sh && dotnet test -c Release SharpCnn.slnx", lines[fence + 2]);
    }

    [Fact]
    public void TheLibraryExampleIsTheQuickStartSample()
    {
        string readme = Readme;
        const string marker = "<!-- samples/QuickStart/Program.cs -->\n```csharp\n";
        int start = readme.IndexOf(marker, StringComparison.Ordinal);
        Assert.True(start >= 0, "the README marks its library example");
        start += marker.Length;
        string snippet = readme[start..readme.IndexOf("\n```\n", start, StringComparison.Ordinal)];
        string sample = File.ReadAllText(RepositoryFile("samples/QuickStart/Program.cs")).ReplaceLineEndings("\n").TrimEnd();
        Assert.Equal(sample, snippet.TrimEnd());
    }

    [Fact]
    public void TheBenchReferenceExplainsEveryMeasure()
    {
        string readme = Readme;
        string section = readme[readme.IndexOf("### `sharpcnn bench`", StringComparison.Ordinal)..];
        section = section[..section.IndexOf("\n### ", 1, StringComparison.Ordinal)];
        foreach (string measure in BenchCommand.Measures)
            Assert.True(section.Contains($"| `{measure}` |", StringComparison.Ordinal), $"bench measure {measure} is not explained in the README");
    }

    [Fact]
    public void EveryCommandAndOptionIsInTheCliReference()
    {
        string readme = Readme;
        var root = CommandLine.Create(); // the command tree that ships
        string[] headings = readme.Split('\n').Where(l => l.StartsWith("### ", StringComparison.Ordinal)).ToArray();
        foreach (var command in root.Subcommands)
        {
            Assert.Contains(headings, h => h.Contains($"`sharpcnn {command.Name}", StringComparison.Ordinal));
            foreach (var option in command.Options.Where(o => o.Name != "--help"))
                Assert.True(readme.Contains($"`{option.Name}", StringComparison.Ordinal) || readme.Contains($", `{option.Name}", StringComparison.Ordinal),
                    $"{command.Name} {option.Name} is not in the README");
        }
    }
}
