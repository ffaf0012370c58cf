/** The query mix for the lesson: realistic questions over the Brown corpus's genres (news, religion, sports, science...). */
export const QUERIES: readonly string[] = [
  'jury investigation of the election',
  'baseball pitcher season',
  'church faith and god',
  'nuclear weapons and the soviet union',
  'husband and wife marriage',
  'tax bill in the legislature',
  'school teachers and education',
  'president kennedy administration',
  'music concert orchestra',
  'police arrested the man',
  'hospital doctors and patients',
  'new york stock market prices',
  'farm land and water',
  'the art of painting',
  'football coach and players',
  'cold war berlin crisis',
];
