// Log lines as a log pipeline reads them: each one JSON, and no object in it with the same key twice.

/** The keys that appear twice in one object of `json` (JSON.parse would keep only the last). */
export function duplicateKeys(json: string): string[] {
  const dups: string[] = [];
  let i = 0;
  const ws = () => {
    while (/\s/.test(json[i] ?? '')) i++;
  };
  const str = (): string => {
    const start = i;
    i++;
    while (json[i] !== '"') i += json[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(json.slice(start, i)) as string;
  };
  const value = (): void => {
    ws();
    const c = json[i];
    if (c === '{') {
      i++;
      const seen = new Set<string>();
      ws();
      if (json[i] === '}') return void i++;
      for (;;) {
        ws();
        const key = str();
        if (seen.has(key)) dups.push(key);
        seen.add(key);
        ws();
        i++; // :
        value();
        ws();
        if (json[i++] === '}') return;
      }
    } else if (c === '[') {
      i++;
      ws();
      if (json[i] === ']') return void i++;
      for (;;) {
        value();
        ws();
        if (json[i++] === ']') return;
      }
    } else if (c === '"') str();
    else while (i < json.length && !/[,}\]\s]/.test(json[i]!)) i++;
  };
  value();
  return dups;
}

/** Every line of a JSON-lines log that is not JSON or repeats a key, with why. */
export function badLogLines(log: string): string[] {
  const bad: string[] = [];
  // A last line without its newline is one a killed process was writing: not the logger's fault.
  const lines = log.split('\n');
  if (!log.endsWith('\n')) lines.pop();
  for (const line of lines) {
    if (line.trim() === '') continue;
    try {
      JSON.parse(line);
    } catch {
      bad.push(`not JSON: ${line.slice(0, 200)}`);
      continue;
    }
    const dups = duplicateKeys(line);
    if (dups.length > 0) bad.push(`repeats ${dups.join(', ')}: ${line.slice(0, 200)}`);
  }
  return bad;
}
