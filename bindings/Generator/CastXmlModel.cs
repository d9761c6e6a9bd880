using System.Text;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace SvdQuant.BindingsGenerator;

/// <summary>
/// Read-only view of a CastXML (format 1) document: elements by id, plus the
/// <c>svdq_</c> declarations that come from the header itself.
/// </summary>
internal sealed class CastXmlModel
{
    private const string Prefix = "svdq_";

    private readonly Dictionary<string, XElement> _byId = [];
    // Anonymous structs (typedef struct { ... } svdq_x;) take their typedef's name.
    private readonly Dictionary<XElement, string> _typedefNames = [];
    private readonly HashSet<string> _typeNames = [];
    private readonly string[] _headerLines;

    /// <summary>The header's <c>svdq_</c> declarations, in source order.</summary>
    public IReadOnlyList<XElement> Declarations { get; }

    private CastXmlModel(XDocument doc, string headerPath)
    {
        var root = doc.Root ?? throw new GeneratorException("castxml produced an empty document");
        foreach (var e in root.Elements())
        {
            if (e.Attribute("id") is { } id)
                _byId[id.Value] = e;
            if (e.Name.LocalName is "Typedef" or "Struct" or "Union" or "Enumeration" or "FundamentalType")
                _typeNames.UnionWith(Attr(e, "name").Split(' '));
        }

        // Keep only what the header declares; CastXML also reports <stdint.h> and builtins.
        var comparison = OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        var file = root.Elements("File").FirstOrDefault(f => string.Equals(
                       Path.GetFullPath(Attr(f, "name")), headerPath, comparison))
                   ?? throw new GeneratorException($"castxml output has no File element for {headerPath}");
        string fileId = Attr(file, "id");
        // CastXML lists every element flat under the root; members (fields, the implicit
        // constructors of C++ mode) name their struct as context, so keep global ones.
        string globalId = Attr(root.Elements("Namespace").FirstOrDefault(n => Attr(n, "name") == "::")
                               ?? throw new GeneratorException("castxml output has no global namespace"), "id");
        var fromHeader = root.Elements()
            .Where(e => Attr(e, "file") == fileId && Attr(e, "context") == globalId)
            .ToList();

        foreach (var typedef in fromHeader.Where(e => e.Name.LocalName == "Typedef"))
        {
            var target = SkipSugar(TypeOf(typedef));
            if (target.Name.LocalName is "Struct" or "Union" or "Enumeration" && Attr(target, "name").Length == 0)
                _typedefNames.TryAdd(target, Attr(typedef, "name"));
        }

        Declarations = fromHeader
            .Where(e => NameOf(e).StartsWith(Prefix, StringComparison.Ordinal))
            .OrderBy(Line) // stable: ties keep document order
            .ToList();
        _headerLines = File.ReadAllLines(headerPath);
    }

    public static CastXmlModel Load(string xmlPath, string headerPath)
    {
        XDocument doc;
        try
        {
            doc = XDocument.Load(xmlPath);
        }
        catch (Exception e) when (e is System.Xml.XmlException or IOException)
        {
            throw new GeneratorException($"could not read castxml output: {e.Message}");
        }
        if (doc.Root?.Attribute("format") is null || !doc.Root.Attribute("format")!.Value.StartsWith("1.", StringComparison.Ordinal))
            throw new GeneratorException("castxml output is not CastXML format 1.x (run castxml with --castxml-output=1)");
        return new CastXmlModel(doc, headerPath);
    }

    public static string Attr(XElement e, string name) => e.Attribute(name)?.Value ?? "";

    public static int Line(XElement e) => int.TryParse(Attr(e, "line"), out int line) ? line : 0;

    public static int Bits(XElement e, string name) => int.TryParse(Attr(e, name), out int bits) ? bits : -1;

    public static bool IsIncomplete(XElement e) => Attr(e, "incomplete") == "1";

    public string NameOf(XElement e) =>
        Attr(e, "name") is { Length: > 0 } name ? name : _typedefNames.GetValueOrDefault(e, "");

    public XElement Get(string id) =>
        _byId.TryGetValue(id, out var e) ? e : throw new GeneratorException($"castxml output refers to unknown id '{id}'");

    public XElement TypeOf(XElement e) => Get(Attr(e, "type"));

    public XElement ReturnTypeOf(XElement e) => Get(Attr(e, "returns"));

    /// <summary>Strips const/volatile and the "struct X" spelling, which do not change layout.</summary>
    public XElement SkipSugar(XElement t)
    {
        while (t.Name.LocalName is "CvQualifiedType" or "ElaboratedType")
            t = TypeOf(t);
        return t;
    }

    /// <summary>Like <see cref="SkipSugar"/> but also looks through typedefs.</summary>
    public XElement Resolve(XElement t)
    {
        for (t = SkipSugar(t); t.Name.LocalName == "Typedef"; t = SkipSugar(TypeOf(t))) { }
        return t;
    }

    /// <summary>The members of a struct that are data fields, in declaration order.</summary>
    public IEnumerable<XElement> FieldsOf(XElement record) =>
        Attr(record, "members").Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(Get).Where(m => m.Name.LocalName == "Field");

    /// <summary>
    /// CastXML drops parameter names of function types, so recover those of a
    /// function-pointer typedef (<c>typedef void (*svdq_x)(int32_t a, ...);</c>) from the
    /// header text. Entries are null where a name cannot be found reliably.
    /// </summary>
    public string?[] SourceParameterNames(XElement typedef, int count)
    {
        var names = new string?[count];
        var text = new StringBuilder();
        for (int i = Line(typedef) - 1; i >= 0 && i < _headerLines.Length && i < Line(typedef) + 20; i++)
        {
            text.Append(_headerLines[i]).Append('\n');
            if (_headerLines[i].Contains(';'))
                break;
        }
        string source = Regex.Replace(text.ToString(), @"/\*.*?\*/|//[^\n]*", " ", RegexOptions.Singleline);
        var match = Regex.Match(source, @"\(\s*\*\s*" + Regex.Escape(Attr(typedef, "name")) + @"\s*\)\s*\((?<params>[^()]*)\)");
        if (!match.Success)
            return names;
        string[] parts = match.Groups["params"].Value.Split(',');
        if (parts.Length != count)
            return names;
        for (int i = 0; i < count; i++)
        {
            // The last identifier is the parameter's name unless it is a type (an unnamed parameter).
            var last = Regex.Match(parts[i], @"([A-Za-z_]\w*)\s*$");
            if (last.Success && !_typeNames.Contains(last.Value.Trim()) && !CKeywords.Contains(last.Value.Trim()))
                names[i] = last.Value.Trim();
        }
        return names;
    }

    private static readonly HashSet<string> CKeywords =
        ["void", "char", "short", "int", "long", "float", "double", "signed", "unsigned", "const", "volatile",
         "struct", "union", "enum", "_Bool", "bool", "restrict", "__restrict"];
}
